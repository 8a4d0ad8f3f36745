#!/usr/bin/env bash
# Measures guest boot time to /init under QEMU microvm (median of N runs).
#
#   kernel-config/bench-boot.sh [--runs N] [--profile standard|pvm-compat] [--kernel VMLINUX]
#                               [--accel tcg|kvm] [--cmdline "FULL LINE"] [--append "OPTS"]
#                               [--smp N] [--mem MIB] [--show] [--dmesg]
#
# The guest is the kernel plus a busybox initramfs whose /init prints /proc/uptime (guest
# seconds since the kernel started: "guest time to /init") and resets; QEMU then exits
# (-no-reboot). Wall time is QEMU start to exit (or, when QEMU hangs in the guest's reset
# under emulated KVM, to the /init line). Default command line: the one
# hull_kernel::cmdline renders for QEMU and the profile.
#   --show   print the guest console of the first run
#   --dmesg  /init also prints the kernel log buffer: with `--append initcall_debug --show`
#            it shows where the time goes, without printing every line during the boot
# As root, a 1-vCPU TCG guest runs under `chrt -f 1` (else `nice -n -10`; HULL_BENCH_PRIO
# overrides): on a busy shared host the vCPU thread otherwise waits for a CPU and the guest
# clock counts that wait as boot time (0.5 s became ~1 s at a load of 9 on 2 cores).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Keep in sync with GuestCmdline::new(profile, CmdlineEngine::Qemu).render();
# the crate's tests check these two lines.
STANDARD_CMDLINE="console=ttyS0 panic=-1 rdinit=/init reboot=t quiet no_timer_check noreplace-smp noapictimer"
COMPAT_CMDLINE="console=ttyS0 panic=-1 rdinit=/init reboot=t quiet no_timer_check noreplace-smp noapictimer nofsgsbase clearcpuid=erms,fsrm,popcnt,cx16,smap,xsave rodata=off hull.stats=off tsc=reliable percpu_alloc=page"

runs=5 profile=standard kernel="" accel=tcg cmdline="" append="" show=0 dmesg=0 smp=1 mem=256
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --kernel) kernel=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        --cmdline) cmdline=$2; shift 2 ;;
        --append) append=$2; shift 2 ;;
        --show) show=1; shift ;;
        --dmesg) dmesg=1; shift ;;
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "bench-boot.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

command -v qemu-system-x86_64 >/dev/null || { echo "bench-boot.sh: needs qemu-system-x86 (apt-get install qemu-system-x86)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "bench-boot.sh: needs /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
if [ -z "$kernel" ]; then
    kernel="$("$SCRIPT_DIR/build.sh" --profile "$profile" | tail -1)/vmlinux"
fi
if [ -z "$cmdline" ]; then
    case "$profile" in
        standard) cmdline=$STANDARD_CMDLINE ;;
        pvm-compat) cmdline=$COMPAT_CMDLINE ;;
        *) echo "bench-boot.sh: unknown profile '$profile'" >&2; exit 2 ;;
    esac
fi
cmdline="$cmdline${append:+ $append}"
case "$accel" in
    tcg) accel_args=(-accel tcg -cpu max) ;;
    # The host CPU minus ARCH_CAPABILITIES (QEMU 7.2 aborts setting MSR 0x10a on this
    # host's kvm_pvm). This AMD host has XSAVEERPTR, so the guest skips the x87
    # FXSAVE_LEAK workaround (not emulated); elsewhere pick an Intel model.
    kvm) accel_args=(-enable-kvm -cpu "${HULL_BENCH_KVM_CPU:-host,-arch-capabilities}") ;;
    *) echo "bench-boot.sh: --accel must be tcg or kvm" >&2; exit 2 ;;
esac

# Real-time priority only for one TCG vCPU: QEMU's main loop then still gets the other core
# (with as many spinning real-time vCPU threads as cores it starves, and so does the host).
prio=${HULL_BENCH_PRIO-}
timeout_s=600
if [ "$accel" = tcg ]; then timeout_s=60; fi
if [ -z "${HULL_BENCH_PRIO+set}" ] && [ "$(id -u)" = 0 ]; then
    if [ "$accel" = tcg ] && [ "$smp" = 1 ] && command -v chrt >/dev/null; then
        prio="chrt -f 1"
    else
        prio="nice -n -10"
    fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The initramfs: busybox, /dev/console (the kernel opens it for init's stdio) and /init.
mkdir -p "$tmp/root/bin" "$tmp/root/dev" "$tmp/root/proc"
cp /bin/busybox "$tmp/root/bin/busybox"
mknod "$tmp/root/dev/console" c 5 1
cat >"$tmp/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
read up idle </proc/uptime
echo "HULL_BOOT_UPTIME $up"
[ -e /dmesg ] && /bin/busybox dmesg
/bin/busybox reboot -f
INIT
[ "$dmesg" = 1 ] && touch "$tmp/root/dmesg"
chmod 755 "$tmp/root/init"
(cd "$tmp/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$tmp/initrd.cpio"

echo "kernel:  $kernel" >&2
echo "cmdline: $cmdline" >&2
echo "accel:   $accel, $smp vCPU(s), $mem MiB, $runs runs${prio:+, run with '$prio'}; host load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
guest=() wall=()
for i in $(seq 1 "$runs"); do
    start=$(date +%s.%N)
    timeout "$timeout_s" $prio qemu-system-x86_64 -M microvm "${accel_args[@]}" -m "$mem" -smp "$smp" -nodefaults \
        -no-user-config -nographic -no-reboot -serial stdio \
        -kernel "$kernel" -initrd "$tmp/initrd.cpio" -append "$cmdline" >"$tmp/console.$i" 2>&1 </dev/null &
    qemu=$!
    # Under emulated KVM the guest's reset can end in an emulation failure, after which QEMU
    # hangs instead of exiting: a watchdog stops it 1 s after /init reported.
    (
        while kill -0 "$qemu" 2>/dev/null; do
            if grep -aqs 'HULL_BOOT_UPTIME' "$tmp/console.$i"; then
                date +%s.%N >"$tmp/seen.$i"
                # Time for /init to print the log buffer (--dmesg) at emulated speed.
                if [ "$dmesg" = 1 ]; then sleep 10; else sleep 1; fi
                kill "$qemu" 2>/dev/null
                exit 0
            fi
            sleep 0.1
        done
    ) &
    watchdog=$!
    wait "$qemu" 2>/dev/null || true
    end=$(date +%s.%N)
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    up=$(grep -ao 'HULL_BOOT_UPTIME [0-9.]*' "$tmp/console.$i" | awk '{print $2}' | head -1 || true)
    if [ -z "$up" ]; then
        echo "run $i: /init did not report; console:" >&2
        tail -n 30 "$tmp/console.$i" >&2
        exit 1
    fi
    # Wall time: to QEMU's exit, or (when the watchdog had to stop QEMU) to the moment the
    # /init line was seen on the console (polled every 0.1 s).
    if [ -s "$tmp/seen.$i" ]; then end=$(cat "$tmp/seen.$i"); fi
    w=$(echo "$end - $start" | bc)
    printf 'run %d: guest %.2f s to /init, wall %.2f s\n' "$i" "$up" "$w" >&2
    guest+=("$up") wall+=("$w")
done
[ "$show" = 1 ] && cat "$tmp/console.1" >&2
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
printf 'median of %d: guest %.2f s to /init, wall %.2f s\n' "$runs" "$(median "${guest[@]}")" "$(median "${wall[@]}")"
