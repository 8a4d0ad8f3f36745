#!/usr/bin/env bash
# Warm start (issue 19), one run on the QEMU TCG engine, interleaved N times:
#   W  hull run --rm --network none busybox true          (restored from the zygote)
#   Q  HULL_WARM_POOL=1 hull run --rm --network none busybox true   (a rehearsed warm-pool VM:
#      the bench waits until the pool has its VM again before the next timed run of any
#      column, so no filler runs while anything is timed; QEMU engine only)
#   C  hull run --rm --network none --cold busybox true   (boots the guest kernel)
#   P  podman --runtime runc run --rm --network none busybox true (the same image, saved by hull)
# Prints medians and minimums and the ratios W/P and Q/P (goal <= 1.0x), C/P and W/C; then the host
# memory of M idle containers each way (sum of the VMM processes' PSS, smaps_rollup), W/C
# (goal <= 0.5x).
# Usage: tests/bench/warm.sh [N] [M]     (default 10 and 10)
#        tests/bench/warm.sh --vmm hull [N] [M], or BENCH_VMM=hull   (default 2 and 3)
#   --vmm hull: the same on hull-vmm (HULL_VMM=hull, hull's kernel pick: the pvm-compat kernel
#   on emulation-only KVM, where a cold container boots for ~40 s and a warm one takes ~7 s).
#   There: no podman column (W/P would measure the emulated guest kernel, not warm start); no
#   cold warm-up run (the zygote's own boot has read the same kernel and image); each idle
#   container's VMM process is checked to be hull-vmm and its RSS/PSS (anon and file) printed.
#   In both modes the warm idle containers are removed before the cold ones start, so each set
#   is measured with M VMM processes sharing the binary's pages and no other VMs using the CPU.
# Env:   HULL_BIN (default target/release/hull), HULL_INIT, HULL_VMM_BIN (--vmm hull; default
#        target/release/hull-vmm). The hull store, podman's store and the zygote cache
#        (HULL_WARM_CACHE) are this script's own, removed at the end.
set -euo pipefail
vmm=${BENCH_VMM:-qemu}
if [[ ${1:-} == --vmm ]]; then
  vmm=${2:?--vmm needs qemu or hull}
  shift 2
fi
case $vmm in
  qemu) runs=${1:-10} idle=${2:-10} ;;
  hull) runs=${1:-2} idle=${2:-3} ;;
  *) echo "--vmm $vmm: expected qemu or hull" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-$repo/target/release/hull}
[[ -x $hull ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }
if [[ $vmm == hull ]]; then
  export HULL_VMM_BIN=${HULL_VMM_BIN:-$repo/target/release/hull-vmm}
  [[ -x $HULL_VMM_BIN ]] || { echo "no hull-vmm binary: run scripts/build.sh, or set HULL_VMM_BIN" >&2; exit 1; }
  [[ -e /dev/kvm ]] || { echo "--vmm hull needs /dev/kvm" >&2; exit 1; }
  # hull picks the kernel for the engine and the host's KVM (pvm-compat on emulation-only KVM).
  unset HULL_KERNEL
fi
work=$(mktemp -d)
export HULL_ROOT=$work/root HULL_VMM=$vmm HULL_WARM_CACHE=$work/warm
unset HULL_WARM
podman=
cleanup() {
  "$hull" rm -f $("$hull" ps -aq) >/dev/null 2>&1 || true
  [[ -n $podman ]] && $podman system reset -f >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
"$hull" image bootstrap busybox >/dev/null

now() { date +%s.%N; }
elapsed() { local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc; }

if [[ $vmm == hull ]]; then
  echo "engine: hull-vmm ($HULL_VMM_BIN), $("$hull" info 2>/dev/null | awk '$1 == "Kernel:" { print "kernel " $2 }')"
  echo "no podman column on hull-vmm: warm vs cold hull-vmm only"
elif command -v podman >/dev/null && command -v runc >/dev/null; then
  mkdir -p "$work/podman/networks"
  # runc here cannot raise RLIMIT_NOFILE past the host's limit: podman's default asks more.
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=30000:30000"]\n[network]\nnetwork_config_dir = "%s"\n' \
    "$work/podman/networks" >"$work/podman/containers.conf"
  podman="env CONTAINERS_CONF=$work/podman/containers.conf podman --root $work/podman/root --runroot $work/podman/run --runtime runc --cgroup-manager cgroupfs --events-backend file"
  "$hull" save -o "$work/busybox.tar" busybox
  $podman load -q -i "$work/busybox.tar" >/dev/null
  $podman run --rm --network none busybox true
else
  echo "podman or runc missing: no podman column"
fi

# Warm-up: the zygote is made by the first warm run; page cache for all three.
if [[ $vmm == hull ]]; then
  echo "first warm run (makes the zygote, then is restored from it): $(elapsed "$hull" run --rm --network none busybox true)s"
  "$hull" system warm
else
  "$hull" run --rm --network none busybox true
  "$hull" run --rm --network none --cold busybox true
fi
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
minimum() { sort -n | head -1 | awk '{printf "%.3f", $1}'; }
ratio() { echo "scale=2; $1 / $2" | bc; }
pss_sum() {
  local total=0 pid
  for pid in "$@"; do
    total=$((total + $(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup")))
  done
  echo "$total"
}
# Waits (at most 60 s) until the warm pool has a ready VM.
pool_ready() {
  local t0=$SECONDS
  until compgen -G "$HULL_WARM_CACHE/*/pool/*.ready" >/dev/null; do
    ((SECONDS - t0 < 60)) || { echo "the warm pool did not fill within 60 s" >&2; exit 1; }
    sleep 0.1
  done
}
warm=() cold=() pod=() pool=()
if [[ $vmm == qemu ]]; then
  HULL_WARM_POOL=1 "$hull" run --rm --network none busybox true
  pool_ready
fi
for ((i = 0; i < runs; i++)); do
  warm+=("$(elapsed "$hull" run --rm --network none busybox true)")
  if [[ $vmm == qemu ]]; then
    pool+=("$(elapsed env HULL_WARM_POOL=1 "$hull" run --rm --network none busybox true)")
    pool_ready
  fi
  cold+=("$(elapsed "$hull" run --rm --network none --cold busybox true)")
  [[ -n $podman ]] && pod+=("$(elapsed $podman run --rm --network none busybox true)")
done
stats() { printf '%s\n' "$@" | median; echo -n " "; printf '%s\n' "$@" | minimum; }
read -r w_med w_min <<<"$(stats "${warm[@]}")"
read -r c_med c_min <<<"$(stats "${cold[@]}")"
echo "runs: $runs"
echo "W warm hull run --rm busybox true:   median ${w_med}s  min ${w_min}s  (${warm[*]})"
if [[ $vmm == qemu ]]; then
  read -r q_med q_min <<<"$(stats "${pool[@]}")"
  echo "Q warm pool (HULL_WARM_POOL=1):       median ${q_med}s  min ${q_min}s  (${pool[*]})"
fi
echo "C cold hull run --rm --cold ...:      median ${c_med}s  min ${c_min}s  (${cold[*]})"
if [[ -n $podman ]]; then
  read -r p_med p_min <<<"$(stats "${pod[@]}")"
  echo "P podman run --rm busybox true:       median ${p_med}s  min ${p_min}s  (${pod[*]})"
  echo "W/P median $(ratio "$w_med" "$p_med")x min $(ratio "$w_min" "$p_min")x (goal <= 1.0x);" \
       "C/P median $(ratio "$c_med" "$p_med")x"
  [[ $vmm == qemu ]] && echo "Q/P median $(ratio "$q_med" "$p_med")x min $(ratio "$q_min" "$p_min")x (goal <= 1.0x)"
fi
echo "W/C median $(ratio "$w_med" "$c_med")x min $(ratio "$w_min" "$c_min")x"
"$hull" run --name bench-phases --network none busybox true
"$hull" run --name bench-phases-cold --network none --cold busybox true
phases=(bench-phases bench-phases-cold)
if [[ $vmm == qemu ]]; then
  HULL_WARM_POOL=1 "$hull" run --name bench-phases-pool --network none busybox true
  phases+=(bench-phases-pool)
  pool_ready
  # The idle pool VM's memory (a cost the pool adds), then no pool for the rest.
  pool_pids=()
  for record in "$HULL_WARM_CACHE"/*/pool/*.ready/vmm.json; do
    pool_pids+=("$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$record")")
  done
  sleep 2
  echo "idle warm-pool VM: PSS $(($(pss_sum "${pool_pids[@]}") / 1024)) MiB"
  "$hull" system warm --rm >/dev/null
  "$hull" run --rm --network none busybox true
fi
for name in "${phases[@]}"; do
  id=$("$hull" inspect --format '{{.Id}}' "$name")
  echo "$name guest: $(grep -h 'hull-init: exit status' "$HULL_ROOT/containers/$id/vm.log")"
done
"$hull" rm -f "${phases[@]}" >/dev/null

# smaps_rollup field $2 of process $1, in kB.
rollup() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/smaps_rollup"; }
# hull-vmm mode: each VMM process is hull-vmm; its RSS, PSS (anonymous and file-backed).
vmm_report() {
  local mode=$1 pid exe
  shift
  for pid in "$@"; do
    exe=$(readlink "/proc/$pid/exe")
    [[ $(basename "$exe") == hull-vmm ]] || { echo "pid $pid is $exe, not hull-vmm" >&2; exit 1; }
    echo "  $mode pid $pid ($exe): RSS $(rollup "$pid" Rss) kB, PSS $(rollup "$pid" Pss) kB" \
         "(anon $(rollup "$pid" Pss_Anon) kB, file $(rollup "$pid" Pss_File) kB)" >&2
  done
}
idle_pss() {
  local mode=$1 pids=() i
  for i in $(seq 1 "$idle"); do
    "$hull" run -d --name "bench-$mode-$i" --network none ${2:-} busybox sh -c 'echo up; sleep 600' >/dev/null
  done
  local t0=$SECONDS
  for i in $(seq 1 "$idle"); do
    until "$hull" logs "bench-$mode-$i" | grep -q up; do
      if [[ $vmm == hull ]] && ((SECONDS - t0 > 900)); then
        echo "bench-$mode-$i not up after 900 s: $("$hull" ps -a --filter "name=bench-$mode-$i" 2>&1)" >&2
        exit 1
      fi
      sleep 0.2
    done
    pids+=("$("$hull" inspect --format '{{.State.Pid}}' "bench-$mode-$i")")
  done
  [[ $vmm == hull ]] && echo "$idle $mode containers up in $((SECONDS - t0)) s (started in parallel with run -d)" >&2
  sleep 5
  [[ $vmm == hull ]] && vmm_report "$mode" "${pids[@]}"
  pss_sum "${pids[@]}"
}
warm_pss=$(idle_pss warm)
# Measured apart: M VMM processes share the binary's pages in either set.
"$hull" rm -f $(seq -f "bench-warm-%g" 1 "$idle") >/dev/null
cold_pss=$(idle_pss cold --cold)
echo "$idle idle containers, sum of VMM PSS: warm $((warm_pss / 1024)) MiB, cold $((cold_pss / 1024)) MiB," \
     "W/C $(ratio "$warm_pss" "$cold_pss")x (goal <= 0.5x)"
