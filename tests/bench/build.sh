#!/usr/bin/env bash
# `hull build` against `podman build` (runc) of the same 10-step Dockerfile (5 RUN), on the
# QEMU TCG engine, in one run (issue 17):
#   - cold: `--no-cache`, RUNS times each, interleaved (order alternating): medians and the
#     ratio hull/podman. Goal: hull no slower than podman (ratio <= 1.0x): one build VM
#     runs all of a stage's RUN and COPY steps.
#   - cached: the same build again with its cache, RUNS times each: medians. Goal: hull's
#     cached rebuild <= 1 s (it boots no VM).
# Prints a table and one PASS/FAIL line per goal; exits 1 if a goal is missed.
#
# Usage: tests/bench/build.sh
# Env:   RUNS (default 5); HULL_BIN (default target/release/hull), HULL_KERNEL, HULL_INIT.
#        The hull store (HULL_ROOT) and podman's store are this script's own, in a temporary
#        directory removed at the end; podman's RUN steps get no network (neither do hull's:
#        --network none), so nothing leaves the host. Needs bash >= 5, qemu-system-x86,
#        podman and runc (the podman column is skipped with a note without them).
set -euo pipefail
runs=${RUNS:-5}
(( runs > 0 )) || { echo "need RUNS > 0" >&2; exit 1; }
[[ -n ${EPOCHREALTIME:-} ]] || { echo "need bash >= 5 (EPOCHREALTIME)" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/hull}
[[ -x $hull ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }

work=$(mktemp -d /tmp/hull-bench-build.XXXXXX)
export HULL_ROOT=$work/root HULL_VMM=qemu HULL_NETWORK_PASTA=none HULL_NETWORK_DNS_UPSTREAM=none
podman=
cleanup() {
  set +e
  local ids
  ids=$("$hull" ps -aq 2>/dev/null)
  [[ -n $ids ]] && "$hull" rm -f $ids >/dev/null 2>&1
  if [[ -n $podman ]]; then
    $podman rmi -af >/dev/null 2>&1
    $podman system reset -f >/dev/null 2>&1
  fi
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
time_into() {
  local file=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2; exit 1; }
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f\n", b - a}' >>"$file"
}
s() { awk -v x="$1" 'BEGIN {printf "%.2f s", x}'; }

context=$work/context
mkdir -p "$context"
printf 'hello from the context\n' >"$context/greeting.txt"
cat >"$context/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
WORKDIR /app
RUN echo one > one
RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo "$i" >> numbers; done
COPY greeting.txt .
RUN cat greeting.txt numbers > combined
RUN mkdir -p data && cp combined data/
RUN wc -l combined > count
CMD ["cat", "/app/count"]
EOF

"$hull" image bootstrap busybox >/dev/null
hull_cold() { "$hull" build --no-cache --network none -q -t bench-build "$context"; }
hull_cached() { "$hull" build --network none -q -t bench-build "$context"; }
hull_cold >/dev/null
[[ $("$hull" run --rm --network none bench-build) == "11 combined" ]] \
  || { echo "the built image does not print what it should" >&2; exit 1; }

if command -v podman >/dev/null && command -v runc >/dev/null; then
  mkdir -p "$work/podman/networks"
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=30000:30000"]\nnetns = "none"\n[network]\nnetwork_config_dir = "%s"\n' \
    "$work/podman/networks" >"$work/podman/containers.conf"
  podman="env CONTAINERS_CONF=$work/podman/containers.conf podman --root $work/podman/root --runroot $work/podman/run --runtime runc --cgroup-manager cgroupfs --events-backend file"
  "$hull" save -o "$work/busybox.tar" busybox
  $podman load -q -i "$work/busybox.tar" >/dev/null
  podman_cold() { $podman build --no-cache --network none -q -t bench-build "$context"; }
  podman_cached() { $podman build --network none -q -t bench-build "$context"; }
  podman_cold >/dev/null
else
  echo "podman or runc missing: no podman column"
fi

for kind in cold cached; do
  : >"$work/hull-$kind"; : >"$work/podman-$kind"
  for ((i = 0; i < runs; i++)); do
    if (( i % 2 == 0 )) || [[ -z $podman ]]; then
      time_into "$work/hull-$kind" "hull_$kind"
      [[ -n $podman ]] && time_into "$work/podman-$kind" "podman_$kind"
    else
      time_into "$work/podman-$kind" "podman_$kind"
      time_into "$work/hull-$kind" "hull_$kind"
    fi
  done
done
left=$("$hull" ps -aq | wc -l)
(( left == 0 )) || { echo "builds left $left containers behind" >&2; exit 1; }

hull_cold_med=$(median <"$work/hull-cold")
hull_cached_med=$(median <"$work/hull-cached")
printf '%-34s %12s %12s\n' "10 steps (5 RUN), $runs runs" hull podman
if [[ -n $podman ]]; then
  podman_cold_med=$(median <"$work/podman-cold")
  podman_cached_med=$(median <"$work/podman-cached")
  printf '%-34s %12s %12s\n' "cold (--no-cache), median" "$(s "$hull_cold_med")" "$(s "$podman_cold_med")"
  printf '%-34s %12s %12s\n' "cached rebuild, median" "$(s "$hull_cached_med")" "$(s "$podman_cached_med")"
else
  printf '%-34s %12s %12s\n' "cold (--no-cache), median" "$(s "$hull_cold_med")" -
  printf '%-34s %12s %12s\n' "cached rebuild, median" "$(s "$hull_cached_med")" -
fi

failed=0
if [[ -n $podman ]]; then
  ratio=$(awk -v a="$hull_cold_med" -v b="$podman_cold_med" 'BEGIN {printf "%.2f", a / b}')
  if awk -v r="$ratio" 'BEGIN {exit !(r <= 1.0)}'; then
    echo "PASS cold build hull/podman = ${ratio}x (goal <= 1.0x)"
  else
    echo "FAIL cold build hull/podman = ${ratio}x (goal <= 1.0x)"; failed=1
  fi
fi
if awk -v t="$hull_cached_med" 'BEGIN {exit !(t <= 1.0)}'; then
  echo "PASS cached rebuild $(s "$hull_cached_med") (goal <= 1 s)"
else
  echo "FAIL cached rebuild $(s "$hull_cached_med") (goal <= 1 s)"; failed=1
fi
exit $failed
