#!/usr/bin/env bash
# hull's overhead over a bare VM boot, measured in the same run on the QEMU TCG engine:
#   A: `hull run --rm busybox true`                 (image store, config disk, 3 consoles,
#                                                     overlay rootfs, namespaces, result)
#   B: qemu-system-x86_64 -M microvm -accel tcg with the machine options of hull's QEMU
#      engine (rtc=on: without it both sides lose ~1 s to the kernel's RTC read), the same
#      kernel and command line, an initramfs with only a static busybox whose /init runs
#      `true` and reboots.
# Prints the median and minimum wall time of each (N runs, default 5, interleaved) and the
# ratios A/B (goal <= 1.10). On a loaded machine the minimum is the steadier figure: noise
# only ever adds time. hull-init's own phase marks (CLOCK_BOOTTIME ms) of the last run are
# printed too (`hull-init: exit status ...` line of its vm.log).
#
# Usage: tests/bench/run-overhead.sh [N]
# Env:   HULL_BIN (default target/release/hull, else target/debug/hull), HULL_KERNEL (the
#        vmlinux; default: the newest cached standard build), HULL_INIT, HULL_ROOT (a
#        temporary store by default). Needs qemu-system-x86, busybox-static, cpio.
set -euo pipefail
runs=${1:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-}
if [[ -z $hull ]]; then
  for candidate in "${CARGO_TARGET_DIR:-$repo/target}/release/hull" "${CARGO_TARGET_DIR:-$repo/target}/debug/hull"; do
    [[ -x $candidate ]] && { hull=$candidate; break; }
  done
fi
[[ -x ${hull:-} ]] || { echo "no hull binary: cargo build --release -p hull-cli, or set HULL_BIN" >&2; exit 1; }
kernel=${HULL_KERNEL:-$(ls -t "${HULL_CACHE:-/var/cache/hull}"/kernel/standard-*/vmlinux 2>/dev/null | head -1)}
[[ -f ${kernel:-} ]] || { echo "no kernel: build one or set HULL_KERNEL" >&2; exit 1; }
busybox=$(command -v busybox)
file -L "$busybox" | grep -q 'statically linked' || { echo "need busybox-static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HULL_ROOT=${HULL_ROOT:-$work/root} HULL_KERNEL=$kernel HULL_VMM=qemu

# The bare initramfs: /init runs `true`, then resets (reboot=t + -no-reboot: QEMU exits).
mkdir -p "$work/initrd/bin" "$work/initrd/dev" "$work/initrd/proc"
cp "$busybox" "$work/initrd/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox true\n/bin/busybox reboot -f\n' > "$work/initrd/init"
chmod +x "$work/initrd/init"
(cd "$work/initrd" && find . | cpio -o -H newc --quiet -R 0:0) > "$work/bare.cpio"
cmdline=$(HULL_LOG=debug "$hull" run --rm busybox true 2>&1 | sed -n 's/.*cmdline: "\([^"]*\)".*/\1/p' | head -1)
cmdline=${cmdline:-"console=ttyS0 panic=-1 rdinit=/init reboot=t quiet"}

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
minimum() { sort -n | head -1 | awk '{printf "%.3f", $1}'; }

"$hull" image bootstrap busybox >/dev/null
"$hull" run --rm busybox true # warm-up: initramfs cache, page cache
hull_times=() bare_times=()
for ((i = 0; i < runs; i++)); do
  t0=$(now); "$hull" run --rm busybox true; t1=$(now)
  hull_times+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now)
  qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=on,acpi=off -accel tcg -cpu max -m 256 -smp 1 \
    -nodefaults -no-user-config -nographic -no-reboot -kernel "$kernel" -initrd "$work/bare.cpio" \
    -append "$cmdline" -serial "file:$work/bare.log"
  t1=$(now)
  bare_times+=("$(echo "$t1 - $t0" | bc)")
done
hull_median=$(printf '%s\n' "${hull_times[@]}" | median)
bare_median=$(printf '%s\n' "${bare_times[@]}" | median)
hull_min=$(printf '%s\n' "${hull_times[@]}" | minimum)
bare_min=$(printf '%s\n' "${bare_times[@]}" | minimum)
echo "runs: $runs  kernel: $kernel"
echo "hull run --rm busybox true: median ${hull_median}s  min ${hull_min}s  (${hull_times[*]})"
echo "bare qemu tcg boot + true:  median ${bare_median}s  min ${bare_min}s  (${bare_times[*]})"
echo "overhead ratio: median $(echo "scale=3; $hull_median / $bare_median" | bc)x  min $(echo "scale=3; $hull_min / $bare_min" | bc)x (goal <= 1.10x)"
# Where the guest's time goes (one kept run).
"$hull" run --name bench-phases busybox true
grep -h 'hull-init: exit status' "$HULL_ROOT"/containers/*/vm.log || true
"$hull" rm bench-phases >/dev/null
