#!/usr/bin/env bash
# Boot benchmark: exec -> guest reset exit for a tiny PVH/ELF guest that prints one line,
# and peak RSS, for hull-vmm next to QEMU microvm in the same run (median of N runs).
#
#   vmm/benches/boot.sh [--runs N] [--hull-vmm PATH]
#
# The same ELF boots on both: it prints "tiny guest up" on COM1, writes 0 to port 0xf4
# (QEMU's isa-debug-exit ends QEMU; hull-vmm ignores it), then resets through the i8042
# (ends hull-vmm). Needs /dev/kvm, qemu-system-x86 (for the comparison), python3 and
# /usr/bin/time (package `time`). HULL_BENCH_QEMU_CPU sets QEMU's -cpu (default qemu64). Builds hull-vmm in release mode unless --hull-vmm is given.
set -euo pipefail

runs=10 hull_vmm=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --hull-vmm) hull_vmm=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "boot.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -e /dev/kvm ] || { echo "boot.sh: needs /dev/kvm" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "boot.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "boot.sh: needs python3" >&2; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -z "$hull_vmm" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target/h-vmmcore}
    cargo build --quiet --release -p hull-vmm --manifest-path "$repo/Cargo.toml"
    hull_vmm=$CARGO_TARGET_DIR/release/hull-vmm
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
guest=$tmp/tiny-guest.elf
# 32-bit PVH entry at 0x100000: print, isa-debug-exit, i8042 reset, hlt loop.
python3 - "$guest" <<'PY'
import struct, sys
code = bytes([0x66, 0xba, 0xf8, 0x03])                      # mov dx, 0x3f8
for b in b"tiny guest up\n":
    code += bytes([0xb0, b, 0xee])                          # mov al, b; out dx, al
code += bytes([0xb0, 0x00, 0xe6, 0xf4])                     # mov al, 0; out 0xf4, al
code += bytes([0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd])   # i8042 reset; hlt; jmp hlt
load = 0x100000
note = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", load)   # XEN_ELFNOTE_PHYS32_ENTRY
ehdr, phdr = 64, 56
off_code = ehdr + 2 * phdr
off_note = off_code + len(code)
out = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
out += struct.pack("<HHIQQQIHHHHHH", 2, 0x3e, 1, load, ehdr, 0, 0, ehdr, phdr, 2, 0, 0, 0)
out += struct.pack("<IIQQQQQQ", 1, 7, off_code, load, load, len(code), len(code), 4)
out += struct.pack("<IIQQQQQQ", 4, 4, off_note, 0, 0, len(note), len(note), 4)
open(sys.argv[1], "wb").write(out + code + note)
PY

# run NAME CMD...: one timed run; prints "wall_ms rss_kib" and checks the guest's line.
run_once() {
    local start end out
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$tmp/rss" "$@" >"$tmp/out" 2>"$tmp/err" || true
    end=$(date +%s%N)
    grep -q "tiny guest up" "$tmp/out" || { echo "boot.sh: guest did not print under: $*" >&2; cat "$tmp/err" >&2; exit 1; }
    echo "$(( (end - start) / 1000 )) $(tail -1 "$tmp/rss")"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

bench() {
    local name=$1; shift
    : >"$tmp/$name.wall"; : >"$tmp/$name.rss"
    for _ in $(seq "$runs"); do
        read -r wall rss < <(run_once "$@")
        echo "$wall" >>"$tmp/$name.wall"; echo "$rss" >>"$tmp/$name.rss"
    done
    local w r
    w=$(median <"$tmp/$name.wall"); r=$(median <"$tmp/$name.rss")
    printf '%-10s wall median %8.1f ms   peak RSS median %6.1f MiB   (%d runs)\n' \
        "$name" "$(echo "$w / 1000" | bc -l)" "$(echo "$r / 1024" | bc -l)" "$runs"
    echo "$w $r" >"$tmp/$name.result"
}

bench hull-vmm "$hull_vmm" --kernel "$guest" --mem-mib 128 --log-level warn
if command -v qemu-system-x86_64 >/dev/null; then
    # `-cpu host` dies on some nested KVMs (MSR 0x10a); qemu64 runs everywhere and the
    # guest needs nothing more. HULL_BENCH_QEMU_CPU overrides.
    qemu_cpu=${HULL_BENCH_QEMU_CPU:-qemu64}
    bench qemu qemu-system-x86_64 -M microvm -enable-kvm -cpu "$qemu_cpu" -m 128 -nodefaults \
        -no-user-config -nographic -serial stdio -no-reboot -kernel "$guest" \
        -device isa-debug-exit,iobase=0xf4,iosize=4
    read -r hw hr <"$tmp/hull-vmm.result"; read -r qw qr <"$tmp/qemu.result"
    printf 'hull-vmm / QEMU microvm: wall %.2fx, peak RSS %.2fx\n' \
        "$(echo "$hw / $qw" | bc -l)" "$(echo "$hr / $qr" | bc -l)"
else
    echo "qemu-system-x86_64 not installed: no comparison"
fi
