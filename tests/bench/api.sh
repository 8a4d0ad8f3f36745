#!/usr/bin/env bash
# What the Docker Engine API service (`hull system service`) adds, on the QEMU TCG engine, in
# one run (issue 15). The service and the CLI share this script's own store and engine.
#   1. `docker run --rm busybox true` through the service's socket vs `hull run --rm busybox
#      true`, interleaved (order alternating), RUNS each: medians, minimums, the ratio
#      docker/hull and the median of the pairs' differences. Goal: the API adds <= 5%
#      (ratio of the medians <= 1.05x). The VM's boot varies by ~100 ms on a shared machine:
#      more RUNS for a steadier ratio.
#   2. Listing with CONTAINERS containers in the store (RUNNING of them running `sleep`, the
#      rest created by `hull create`): `docker ps` and `docker ps -a` through the socket,
#      `hull ps -a` and `hull ps` on the same store, and the bare request (curl, when present:
#      GET /containers/json?all=1, no client start-up), interleaved, PS_RUNS each: medians.
#      Goal: `docker ps` answers in <= 50 ms (both `docker ps` and `docker ps -a` are held
#      to it: with created containers only `-a` lists them all).
# Prints a table and one PASS/FAIL line per goal; exits 1 if a goal is missed.
#
# Usage: tests/bench/api.sh
# Env:   RUNS (default 10), PS_RUNS (default 20), CONTAINERS (default 50), RUNNING (default 2);
#        HULL_BIN (default target/release/hull, else target/debug/hull), DOCKER_BIN (default
#        `docker` on PATH), HULL_KERNEL, HULL_INIT. The store (HULL_ROOT), the socket and the
#        docker client's config (DOCKER_CONFIG) are this script's own, in a temporary
#        directory removed at the end. Needs bash >= 5 (EPOCHREALTIME), docker (the client
#        only), qemu-system-x86.
set -euo pipefail
runs=${RUNS:-10}
ps_runs=${PS_RUNS:-20}
containers=${CONTAINERS:-50}
running=${RUNNING:-2}
(( runs > 0 && ps_runs > 0 && containers >= running && running >= 0 )) \
  || { echo "need RUNS > 0, PS_RUNS > 0, CONTAINERS >= RUNNING >= 0" >&2; exit 1; }
[[ -n ${EPOCHREALTIME:-} ]] || { echo "need bash >= 5 (EPOCHREALTIME)" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-}
if [[ -z $hull ]]; then
  for candidate in "${CARGO_TARGET_DIR:-$repo/target}/release/hull" "${CARGO_TARGET_DIR:-$repo/target}/debug/hull"; do
    [[ -x $candidate ]] && { hull=$candidate; break; }
  done
fi
[[ -x ${hull:-} ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }
docker=${DOCKER_BIN:-$(command -v docker || true)}
[[ -x ${docker:-} ]] || { echo "no docker client: install it, or set DOCKER_BIN" >&2; exit 1; }

work=$(mktemp -d /tmp/hull-bench-api.XXXXXX)
socket=$work/api.sock
mkdir "$work/docker-config"
export HULL_ROOT=$work/root HULL_VMM=qemu HULL_NETWORK_PASTA=none HULL_NETWORK_DNS_UPSTREAM=none
# The default network's daemon stays up between runs (both sides use it).
export HULL_NETWORK_IDLE_TIMEOUT=60
export DOCKER_HOST=unix://$socket DOCKER_CONFIG=$work/docker-config
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_API_VERSION

service_pid=
cleanup() {
  set +e
  local ids
  ids=$("$hull" ps -aq 2>/dev/null)
  [[ -n $ids ]] && "$hull" rm -f $ids >/dev/null 2>&1
  if [[ -n $service_pid ]]; then
    kill -TERM "$service_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$service_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$service_pid" 2>/dev/null
    wait "$service_pid" 2>/dev/null
  fi
  # What hull started for this store and left behind (the network's daemon, which idles out
  # on its own otherwise): by pid, only processes whose arguments are `--root $HULL_ROOT`.
  local proc pid args i
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    mapfile -d '' args 2>/dev/null <"$proc/cmdline" || continue
    for ((i = 0; i + 1 < ${#args[@]}; i++)); do
      if [[ ${args[i]} == --root && ${args[i+1]} == "$HULL_ROOT" ]]; then
        kill -TERM "$pid" 2>/dev/null
        break
      fi
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
minimum() { sort -g | head -1; }
# time_into FILE CMD...: runs CMD (stdout to /dev/null), appends its wall time in seconds.
time_into() {
  local file=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  "$@" >/dev/null
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f\n", b - a}' >>"$file"
}
s() { awk -v x="$1" 'BEGIN {printf "%.3f s", x}'; }
ms() { awk -v x="$1" 'BEGIN {printf "%.1f ms", x * 1000}'; }

"$hull" image bootstrap busybox >/dev/null
"$hull" system service --host "unix://$socket" >"$work/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 100); do
  "$docker" version >/dev/null 2>&1 && break
  kill -0 "$service_pid" 2>/dev/null || { echo "the service ended:" >&2; cat "$work/service.log" >&2; exit 1; }
  sleep 0.1
done
"$docker" version >/dev/null || { echo "the service does not answer on $socket:" >&2; cat "$work/service.log" >&2; exit 1; }

# Both paths work, and agree, before anything is timed (also the warm-up: caches, the
# network's daemon, the service's first container).
[[ $("$hull" run --rm busybox echo hull-bench) == hull-bench ]] || { echo "hull run printed the wrong output" >&2; exit 1; }
[[ $("$docker" run --rm busybox echo hull-bench) == hull-bench ]] || { echo "docker run (API) printed the wrong output" >&2; exit 1; }
status=0; "$docker" run --rm busybox sh -c 'exit 3' || status=$?
[[ $status == 3 ]] || { echo "docker run (API): exit status $status, not 3" >&2; exit 1; }
"$hull" run --rm busybox true
"$docker" run --rm busybox true

# 1. docker run vs hull run.
: >"$work/run-hull"; : >"$work/run-docker"
for ((i = 0; i < runs; i++)); do
  if (( i % 2 == 0 )); then
    time_into "$work/run-hull" "$hull" run --rm busybox true
    time_into "$work/run-docker" "$docker" run --rm busybox true
  else
    time_into "$work/run-docker" "$docker" run --rm busybox true
    time_into "$work/run-hull" "$hull" run --rm busybox true
  fi
done
left=$("$hull" ps -aq | wc -l)
(( left == 0 )) || { echo "--rm left $left containers behind:" >&2; "$hull" ps -a >&2; exit 1; }
hull_med=$(median <"$work/run-hull"); hull_min=$(minimum <"$work/run-hull")
docker_med=$(median <"$work/run-docker"); docker_min=$(minimum <"$work/run-docker")
run_ratio=$(awk -v a="$docker_med" -v b="$hull_med" 'BEGIN {printf "%.3f", a / b}')
run_ratio_min=$(awk -v a="$docker_min" -v b="$hull_min" 'BEGIN {printf "%.3f", a / b}')
# Each pair ran back to back: the median of the differences is steadier under a load that
# drifts (other VMs on the host) than the difference of the medians.
pair_diff=$(paste "$work/run-docker" "$work/run-hull" | awk '{print $1 - $2}' | median)

# 2. Listing.
for ((i = 1; i <= containers - running; i++)); do
  "$hull" create --name "bench-api-created-$i" busybox true >/dev/null
done
for ((i = 1; i <= running; i++)); do
  "$hull" run -d --name "bench-api-running-$i" busybox sleep 3600 >/dev/null
done
n_all=$("$docker" ps -aq | wc -l); n_up=$("$docker" ps -q | wc -l); n_hull=$("$hull" ps -aq | wc -l)
if (( n_all != containers || n_up != running || n_hull != containers )); then
  echo "the listings disagree with the store: docker ps -a: $n_all, docker ps: $n_up, hull ps -a: $n_hull (expected $containers, $running, $containers)" >&2
  exit 1
fi
listings=(docker-ps docker-ps-a hull-ps-a hull-ps)
list() {
  case $1 in
    docker-ps) "$docker" ps ;;
    docker-ps-a) "$docker" ps -a ;;
    hull-ps-a) "$hull" ps -a ;;
    hull-ps) "$hull" ps ;;
    curl) curl -sf --unix-socket "$socket" 'http://hull/v1.41/containers/json?all=1' ;;
  esac
}
command -v curl >/dev/null && listings+=(curl)
for l in "${listings[@]}"; do list "$l" >/dev/null; : >"$work/list-$l"; done # warm-up
for ((i = 0; i < ps_runs; i++)); do
  for l in "${listings[@]}"; do time_into "$work/list-$l" list "$l"; done
done
declare -A list_med
for l in "${listings[@]}"; do list_med[$l]=$(median <"$work/list-$l"); done

# The service's children that ended and were never waited for (one per container started
# through it would be a leak in a long-running service).
zombies=$( { ps -o stat= --ppid "$service_pid" || true; } | awk '/Z/' | wc -l)

printf '\n== start-up, %d runs each, interleaved (QEMU TCG)\n' "$runs"
printf '%-44s %10s %10s\n' '' median min
printf '%-44s %10s %10s\n' 'hull run --rm busybox true' "$(s "$hull_med")" "$(s "$hull_min")"
printf '%-44s %10s %10s\n' 'docker run --rm busybox true (API socket)' "$(s "$docker_med")" "$(s "$docker_min")"
printf '%-44s %10s %10s\n' 'ratio docker/hull' "${run_ratio}x" "${run_ratio_min}x"
printf '%-44s %10s\n' 'docker - hull, median of the pairs' "$(ms "$pair_diff")"
printf '\n== listing, %d containers (%d created, %d running), median of %d\n' \
  "$containers" "$((containers - running))" "$running" "$ps_runs"
printf '%-44s %10s\n' 'docker ps (API socket)' "$(ms "${list_med[docker-ps]}")"
printf '%-44s %10s\n' 'docker ps -a (API socket)' "$(ms "${list_med[docker-ps-a]}")"
printf '%-44s %10s\n' 'hull ps -a' "$(ms "${list_med[hull-ps-a]}")"
printf '%-44s %10s\n' 'hull ps' "$(ms "${list_med[hull-ps]}")"
[[ -n ${list_med[curl]:-} ]] && printf '%-44s %10s\n' 'GET /containers/json?all=1 (curl)' "$(ms "${list_med[curl]}")"
(( zombies == 0 )) || printf '\nnote: the service has %d ended children not waited for (defunct)\n' "$zombies"
echo

failed=0
if awk -v r="$run_ratio" 'BEGIN {exit !(r <= 1.05)}'; then verdict=PASS; else verdict=FAIL; failed=1; fi
echo "$verdict run: docker run through the API / hull run = ${run_ratio}x (goal <= 1.05x)"
worst=$(printf '%s\n' "${list_med[docker-ps]}" "${list_med[docker-ps-a]}" | sort -g | tail -1)
if awk -v t="$worst" 'BEGIN {exit !(t <= 0.050)}'; then verdict=PASS; else verdict=FAIL; failed=1; fi
echo "$verdict ps: docker ps $(ms "${list_med[docker-ps]}"), docker ps -a $(ms "${list_med[docker-ps-a]}") with $containers containers (goal <= 50 ms)"
exit "$failed"
