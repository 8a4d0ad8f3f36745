#!/usr/bin/env bash
# Memory on the QEMU TCG engine (issue 22):
#   1. Given back: a container (-m 256m) allocates and touches 200 MiB (dd's buffer), frees it
#      (dd exits); the VMM's RSS is sampled every second for 10 s. virtio-balloon free page
#      reporting hands the freed pages back (the guest reports 2 MiB blocks ~2 s after they
#      are freed). The issue's goal: >= 150 MiB back within 10 s.
#   2. Per-container overhead: host RSS and PSS of the VMM process of an idle busybox
#      container (default size, no -m), N containers at once (PSS shares QEMU's text and
#      the layer files' page cache between them).
# Usage: tests/bench/memory.sh [N]        (N idle containers for 2, default 3)
# Env:   HULL_BIN (default target/release/hull), HULL_INIT, HULL_ROOT (a temporary store by
#        default).
set -euo pipefail
n=${1:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-$repo/target/release/hull}
[[ -x $hull ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }
work=$(mktemp -d)
export HULL_ROOT=${HULL_ROOT:-$work/root} HULL_VMM=qemu
names=(bench-balloon)
for i in $(seq 1 "$n"); do names+=("bench-idle-$i"); done
trap '"$hull" rm -f "${names[@]}" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$hull" image bootstrap busybox >/dev/null

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/$3"; }
rss() { kib "$1" VmRSS status; }
pss() { kib "$1" Pss smaps_rollup; }
vmm_pid() { "$hull" inspect --format '{{.State.Pid}}' "$1"; }

echo "== 1. allocate + free 200 MiB in a -m 256m container"
"$hull" run -d --name bench-balloon -m 256m busybox sh -c \
  'sleep 2; echo ready; dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; echo freed; sleep 600' >/dev/null
pid=$(vmm_pid bench-balloon)
until "$hull" logs bench-balloon | grep -q ready; do sleep 0.2; done
before=$(rss "$pid")
until "$hull" logs bench-balloon | grep -q freed; do sleep 0.1; done
peak=$(rss "$pid")
echo "VMM RSS before: $((before / 1024)) MiB; right after the free: $((peak / 1024)) MiB"
low=$peak
for s in $(seq 1 10); do
  sleep 1
  now=$(rss "$pid")
  ((now < low)) && low=$now
  echo "  +${s}s: $((now / 1024)) MiB (given back: $(((peak - now) / 1024)) MiB)"
done
echo "given back within 10 s: $(((peak - low) / 1024)) MiB (goal >= 150)"
"$hull" rm -f bench-balloon >/dev/null

echo "== 2. $n idle busybox containers (default size: $("$hull" run --rm busybox sh -c 'grep MemTotal /proc/meminfo'))"
for i in $(seq 1 "$n"); do
  "$hull" run -d --name "bench-idle-$i" busybox sh -c 'echo up; sleep 600' >/dev/null
done
for i in $(seq 1 "$n"); do
  until "$hull" logs "bench-idle-$i" | grep -q up; do sleep 0.2; done
done
sleep 5
for i in $(seq 1 "$n"); do
  pid=$(vmm_pid "bench-idle-$i")
  echo "container $i: VMM RSS $(($(rss "$pid") / 1024)) MiB, PSS $(($(pss "$pid") / 1024)) MiB"
done
