#!/usr/bin/env bash
# hull's overhead over booting the same VM by hand, measured in one run on the QEMU TCG engine
# (interleaved, N runs each):
#   A  `hull run --rm --network none busybox true` (the network costs nothing measurable next
#      to the boot: tests/bench/network.sh; and B has no NIC to give it): image lookup, writable disk, config disk, engine start,
#      console sockets, supervisor, result, --rm clean-up.
#   B  the same VM booted by hand: qemu-system-x86_64 with the QEMU engine's machine and
#      devices, the same kernel, command line and initramfs (hull-init), and the disks of a
#      container hull made (its config disk with the run spec, marked --rm like A's; the
#      busybox layer; a fresh copy of the empty writable disk for each run). The guest runs `true` exactly as in A;
#      its consoles go to null. A/B is hull's overhead: the issue's goal is <= 1.10x.
#   C  the floor: the same kernel and command line booting an initramfs that holds only a
#      static busybox whose /init runs `true` and reboots; no disks, no consoles. A/C is what
#      the container machinery as a whole (disks, consoles, overlay rootfs, namespaces,
#      result) costs over an empty VM.
# Prints median and minimum wall times and both ratios. On a loaded machine the minimum is
# the steadier figure (noise only ever adds time). hull-init's phase marks (CLOCK_BOOTTIME ms)
# of the last A and B runs show where the guest's time goes.
#
# Usage: tests/bench/run-overhead.sh [N]
# Env:   HULL_BIN (default target/release/hull), HULL_KERNEL (default: the cached standard
#        build), HULL_INIT, HULL_ROOT (a temporary store by default). Needs qemu-system-x86,
#        busybox-static, cpio.
set -euo pipefail
runs=${1:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-}
if [[ -z $hull ]]; then
  for candidate in "${CARGO_TARGET_DIR:-$repo/target}/release/hull" "${CARGO_TARGET_DIR:-$repo/target}/debug/hull"; do
    [[ -x $candidate ]] && { hull=$candidate; break; }
  done
fi
[[ -x ${hull:-} ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }
busybox=$(command -v busybox)
file -L "$busybox" | grep -q 'statically linked' || { echo "need busybox-static" >&2; exit 1; }

work=$(mktemp -d)
export HULL_ROOT=${HULL_ROOT:-$work/root} HULL_VMM=qemu
trap '"$hull" rm -f bench-reference bench-phases >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

"$hull" image bootstrap busybox >/dev/null
"$hull" run --rm --cold --network none busybox true # warm-up: initramfs and disk template caches, page cache

# B's VM: what hull boots for a container, read back from hull's own debug log.
spec=$(HULL_LOG=debug "$hull" run --name bench-reference --network none busybox true 2>&1 | grep -m1 'spec=VmSpec')
field() { sed -n "s/.* $1: \"\([^\"]*\)\".*/\1/p" <<<"$spec"; }
kernel=$(field kernel) initramfs=$(field initramfs) cmdline=$(field cmdline)
mem=$(sed -n 's/.* mem_mib: \([0-9]*\).*/\1/p' <<<"$spec")
[[ -f $kernel && -f $initramfs && -n $cmdline && -n $mem ]] || { echo "cannot read the VM spec from: $spec" >&2; exit 1; }
template=$(ls "$HULL_ROOT"/templates/writable-ext4-*.img | head -1)
machine=(-M microvm,x-option-roms=off,rtc=on,acpi=off -accel tcg -cpu max -m "$mem" -smp 1
         -nodefaults -no-user-config -nographic -no-reboot -kernel "$kernel" -append "$cmdline")
devices=(-device isa-debug-exit,iobase=0xf4,iosize=4)
index=0
while read -r path serial read_only; do
  case $serial in
    hull-rw) cp --sparse=always "$template" "$work/rw.img"; path=$work/rw.img ;;
    hull-config)
      # The reference is not --rm, so its writable disk is not ephemeral; A's is (the guest
      # then skips syncfs). Same-length edit in place: the frame stays valid.
      cp "$path" "$work/config.img"; path=$work/config.img
      sed -i 's/"ephemeral":false/"ephemeral":true /' "$path"
      grep -q '"ephemeral":true ' "$path" || { echo "cannot mark the reference's disk ephemeral" >&2; exit 1; } ;;
  esac
  ro=; [[ $read_only == true ]] && ro=,readonly=on
  devices+=(-drive "id=d$index,file=$path,format=raw,if=none$ro" -device "virtio-blk-device,drive=d$index,serial=$serial")
  index=$((index + 1))
done < <(grep -o 'DiskSpec { path: "[^"]*", serial: "[^"]*", read_only: [a-z]*' <<<"$spec" \
         | sed 's/DiskSpec { path: "\([^"]*\)", serial: "\([^"]*\)", read_only: \([a-z]*\)/\1 \2 \3/')
devices+=(-device virtio-serial-device,max_ports=4)
for nr in 0 1 2; do devices+=(-chardev "null,id=c$nr" -device "virtconsole,chardev=c$nr,nr=$nr"); done

# C's initramfs: /init runs `true`, then resets (reboot=t + -no-reboot: QEMU exits).
mkdir -p "$work/initrd/bin" "$work/initrd/dev" "$work/initrd/proc"
cp "$busybox" "$work/initrd/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox true\n/bin/busybox reboot -f\n' > "$work/initrd/init"
chmod +x "$work/initrd/init"
(cd "$work/initrd" && find . | cpio -o -H newc --quiet -R 0:0) > "$work/floor.cpio"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
minimum() { sort -n | head -1 | awk '{printf "%.3f", $1}'; }
ratio() { echo "scale=3; $1 / $2" | bc; }

boot_by_hand() {
  cp --sparse=always "$template" "$work/rw.img"
  local t0 t1
  t0=$(now)
  # isa-debug-exit makes QEMU's own exit status non-zero: the guest's result is on the disk.
  qemu-system-x86_64 "${machine[@]}" -initrd "$initramfs" "${devices[@]}" -serial "file:$work/by-hand.log" || true
  t1=$(now)
  echo "$t1 - $t0" | bc
}
hull_times=() by_hand_times=() floor_times=()
for ((i = 0; i < runs; i++)); do
  t0=$(now); "$hull" run --rm --cold --network none busybox true; t1=$(now)
  hull_times+=("$(echo "$t1 - $t0" | bc)")
  by_hand_times+=("$(boot_by_hand)")
  t0=$(now)
  qemu-system-x86_64 "${machine[@]}" -initrd "$work/floor.cpio" -serial "file:$work/floor.log"
  t1=$(now)
  floor_times+=("$(echo "$t1 - $t0" | bc)")
done
grep -q 'hull-init: exit status 0' "$work/by-hand.log" || { echo "the VM booted by hand did not run true:" >&2; cat "$work/by-hand.log" >&2; exit 1; }

stats() { printf '%s\n' "$@" | median; echo -n " "; printf '%s\n' "$@" | minimum; }
read -r a_med a_min <<<"$(stats "${hull_times[@]}")"
read -r b_med b_min <<<"$(stats "${by_hand_times[@]}")"
read -r c_med c_min <<<"$(stats "${floor_times[@]}")"
echo "runs: $runs  kernel: $kernel"
echo "A hull run --rm busybox true:     median ${a_med}s  min ${a_min}s  (${hull_times[*]})"
echo "B same VM booted by hand:         median ${b_med}s  min ${b_min}s  (${by_hand_times[*]})"
echo "C empty VM (busybox /init, true): median ${c_med}s  min ${c_min}s  (${floor_times[*]})"
echo "hull overhead A/B: median $(ratio "$a_med" "$b_med")x  min $(ratio "$a_min" "$b_min")x (goal <= 1.10x)"
echo "container machinery A/C: median $(ratio "$a_med" "$c_med")x  min $(ratio "$a_min" "$c_min")x"
echo "B guest: $(grep -h 'hull-init: exit status' "$work/by-hand.log")"
"$hull" run --name bench-phases --cold --network none busybox true
phases_id=$("$hull" inspect bench-phases | sed -n 's/.*"Id": *"\([0-9a-f]*\)".*/\1/p' | head -1)
echo "A guest: $(grep -h 'hull-init: exit status' "$HULL_ROOT/containers/$phases_id/vm.log")"
