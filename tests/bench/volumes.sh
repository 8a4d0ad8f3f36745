#!/usr/bin/env bash
# Volume I/O on the QEMU TCG engine (issue 16), in one run: a sequential write (dd
# conv=fsync) and read of SIZE_MIB MiB, and create + stat + delete of FILES small files, on
#   layer   the container's writable layer (/data: overlayfs over ext4 on a virtio-blk disk),
#   volume  a named volume (/vol: virtio-fs, served by the container's virtiofsd),
#   bind    a bind mount (/bind: the same path, a host temporary directory),
#   host    the host directly (a temporary directory on the same filesystem as the others).
# One idle container per target (the default size: 1 vCPU, 256 MiB), booted before any
# timing; each phase is one `hull exec` timed from the host, so the exec's own cost is in
# every container figure (measured and printed: subtract it if you like). The workloads are
# the same shell text everywhere, run by busybox: the image's in the guests, the host's on
# the host (the image is bootstrapped from it). Reads are cold in the guest's page cache
# (the container is restarted between write and read: /proc/sys is read-only in a
# container, so no drop_caches) and warm in the host's for every row (the guests' disk
# images and shared files sit in the host's page cache, as does the host's own file): what
# is compared is the path to the data, not the host's disk. The small files are not synced
# (what an application sees). RUNS runs, the targets interleaved (order alternating);
# medians. Goal: the named volume reaches >= 50% of the writable layer's large-file
# throughput (write and read); the small-file ratio is printed with no goal.
# Prints a table and one PASS/FAIL line per goal; exits 1 if a goal is missed.
#
# Usage: tests/bench/volumes.sh [--virtiofsd-extra "ARGS"]
#        --virtiofsd-extra: more virtiofsd arguments (e.g. "--writeback", "--cache=always",
#        "--thread-pool-size=4"), given through a wrapper hull runs as HULL_VIRTIOFSD; an
#        --OPTION=VALUE there replaces hull's own --OPTION=... (e.g. its --cache=auto).
# Env:   RUNS (default 3), SIZE_MIB (default 256), FILES (default 10000), PHASE_TIMEOUT
#        (seconds, default 600: a phase that takes longer fails the run); HULL_BIN (default
#        target/release/hull), HULL_KERNEL, HULL_INIT, HULL_VIRTIOFSD. The store (HULL_ROOT)
#        is this script's own, in a temporary directory removed at the end; the containers
#        run --network none. Needs bash >= 5, qemu-system-x86, virtiofsd, busybox (without
#        it the host row runs the host's sh and tools, noted).
set -euo pipefail
extra=
while (($#)); do
  case $1 in
    --virtiofsd-extra) [[ $# -ge 2 ]] || { echo "--virtiofsd-extra needs ARGS" >&2; exit 2; }; extra=$2; shift 2 ;;
    --virtiofsd-extra=*) extra=${1#*=}; shift ;;
    *) echo "usage: $0 [--virtiofsd-extra \"ARGS\"]" >&2; exit 2 ;;
  esac
done
runs=${RUNS:-3}
size=${SIZE_MIB:-256}
files=${FILES:-10000}
phase_timeout=${PHASE_TIMEOUT:-600}
((runs > 0 && size > 0 && files > 0)) || { echo "need RUNS, SIZE_MIB, FILES > 0" >&2; exit 1; }
[[ -n ${EPOCHREALTIME:-} ]] || { echo "need bash >= 5 (EPOCHREALTIME)" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/hull}
[[ -x $hull ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }
# The virtiofsd hull would run (engine/src/supervisor/shares.rs: $HULL_VIRTIOFSD, PATH,
# /usr/libexec, /usr/local/bin).
virtiofsd=${HULL_VIRTIOFSD:-$(PATH=$PATH:/usr/libexec:/usr/local/bin command -v virtiofsd || true)}
[[ -x $virtiofsd ]] || { echo "needs virtiofsd (scripts/install-deps.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/hull-bench-volumes.XXXXXX)
export HULL_ROOT=$work/root HULL_VMM=qemu HULL_NETWORK_PASTA=none HULL_NETWORK_DNS_UPSTREAM=none
targets=(layer volume bind host)
declare -A container=([layer]=bench-layer [volume]=bench-volume [bind]=bench-bind)
declare -A dir=([layer]=/data [volume]=/vol [bind]=/bind [host]=$work/host)
declare -A label=([layer]="writable layer" [volume]="named volume" [bind]="bind mount" [host]=host)
cleanup() {
  set +e
  "$hull" rm -f "${container[@]}" >/dev/null 2>&1
  "$hull" volume rm bench-vol >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bind" "$work/host"

if [[ -n $extra ]]; then
  # A wrapper in hull's place: hull's arguments, less those the extra ones replace, then
  # the extra ones. Word-split on purpose: ARGS is a list of plain options.
  read -ra extra_args <<<"$extra"
  {
    echo '#!/usr/bin/env bash'
    printf 'extra=(%s)\n' "$(printf '%q ' "${extra_args[@]}")"
    cat <<'EOF'
args=()
for arg in "$@"; do
  for e in "${extra[@]}"; do
    [[ $e == --*=* && $arg == "${e%%=*}="* ]] && continue 2
  done
  args+=("$arg")
done
EOF
    printf 'exec %q "${args[@]}" "${extra[@]}"\n' "$virtiofsd"
  } >"$work/virtiofsd"
  chmod +x "$work/virtiofsd"
  export HULL_VIRTIOFSD=$work/virtiofsd
fi

# The host row's shell: the host's busybox (its applets before PATH), else the host's sh.
if command -v busybox >/dev/null; then
  host_tools=$(busybox 2>&1 || true)
  host_tools=${host_tools%%$'\n'*}
  host_sh=(busybox sh) host_tools="host's ${host_tools%% multi-call*}"
else
  host_sh=(sh) host_tools="host's sh and tools (no busybox)"
fi

"$hull" image bootstrap busybox >/dev/null
"$hull" volume create bench-vol >/dev/null
# Their command stops at SIGTERM at once, so a restart takes a boot, not a stop timeout.
idle='trap "exit 0" TERM; sleep 3600 & wait'
"$hull" run -d --name bench-layer --network none busybox sh -c "$idle" >/dev/null
"$hull" run -d --name bench-volume --network none -v bench-vol:/vol busybox sh -c "$idle" >/dev/null
"$hull" run -d --name bench-bind --network none -v "$work/bind:/bind" busybox sh -c "$idle" >/dev/null
wait_up() { # container: until an exec in it works (at most 60 s)
  for _ in $(seq 300); do "$hull" exec "$1" true >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "$1 did not come up: $("$hull" logs "$1" 2>&1 | tail -5)" >&2; exit 1
}
for name in "${container[@]}"; do wait_up "$name"; done
"$hull" exec bench-layer mkdir -p /data
guest_size=$("$hull" exec bench-layer sh -c 'echo "$(nproc) vCPU, $(($(sed -n "s/MemTotal: *\([0-9]*\).*/\1/p" /proc/meminfo) / 1024)) MiB RAM"')

# shell_on TARGET: sets cmd to the command that runs `sh -c SCRIPT sh DIR` there.
shell_on() {
  if [[ $1 == host ]]; then cmd=("${host_sh[@]}"); else cmd=("$hull" exec "${container[$1]}" sh); fi
}
declare -A times
# time_into KEY TARGET SCRIPT: runs SCRIPT on TARGET ($1: its directory), appends the wall
# time in seconds to times[KEY].
time_into() {
  local key=$1 target=$2 script=$3 t0 t1
  shell_on "$target"
  t0=$EPOCHREALTIME
  timeout "$phase_timeout" "${cmd[@]}" -c "$script" sh "${dir[$target]}" >/dev/null 2>"$work/last.err" \
    || { echo "$key failed (or took over ${phase_timeout}s):" >&2; cat "$work/last.err" >&2; exit 1; }
  t1=$EPOCHREALTIME
  times[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}') "
}
untimed() { # TARGET SCRIPT: runs SCRIPT on TARGET, untimed; fails the run if it fails
  shell_on "$1"
  timeout "$phase_timeout" "${cmd[@]}" -c "$2" sh "${dir[$1]}" >/dev/null \
    || { echo "check on $1 failed: $2" >&2; exit 1; }
}

big_write="dd if=/dev/zero of=\"\$1/big\" bs=1M count=$size conv=fsync"
big_read="dd if=\"\$1/big\" of=/dev/null bs=1M"
check_big="[ \"\$(stat -c %s \"\$1/big\")\" -eq $((size << 20)) ] && rm \"\$1/big\""
small_create="mkdir \"\$1/small\" && cd \"\$1/small\" && i=0 && while [ \$i -lt $files ]; do echo x >f\$i || exit 1; i=\$((i + 1)); done"
check_small="[ \"\$(ls \"\$1/small\" | wc -l)\" -eq $files ]"
small_stat="find \"\$1/small\" -type f | xargs stat >/dev/null"
small_delete="rm -rf \"\$1/small\""

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
# The exec's own cost, in every container figure below.
for _ in 1 2 3 4 5; do time_into exec layer 'true'; done
exec_s=$(median <<<"${times[exec]}")

start=$EPOCHREALTIME
order=("${targets[@]}")
for run in $(seq "$runs"); do
  # Alternate the order, so no target always runs right after another's writeback.
  (( run % 2 == 0 )) && order=(host bind volume layer) || order=("${targets[@]}")
  echo "run $run/$runs: ${order[*]} ..." >&2
  for t in "${order[@]}"; do
    time_into "$t-write" "$t" "$big_write"
    if [[ $t != host ]]; then
      # An empty guest page cache: the read crosses to the host, as a cold read would.
      "$hull" restart "${container[$t]}" >/dev/null
      wait_up "${container[$t]}"
    fi
    time_into "$t-read" "$t" "$big_read"
    untimed "$t" "$check_big"
    time_into "$t-create" "$t" "$small_create"
    untimed "$t" "$check_small"
    time_into "$t-stat" "$t" "$small_stat"
    time_into "$t-delete" "$t" "$small_delete"
    # This run's create + stat + delete.
    read -ra c <<<"${times[$t-create]}"; read -ra s <<<"${times[$t-stat]}"; read -ra d <<<"${times[$t-delete]}"
    times[$t-small]+="$(awk -v a="${c[-1]}" -v b="${s[-1]}" -v c="${d[-1]}" 'BEGIN {printf "%.6f", a + b + c}') "
  done
done
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')

declare -A med
for t in "${targets[@]}"; do
  for phase in write read create stat delete small; do
    med[$t-$phase]=$(median <<<"${times[$t-$phase]}")
    # Every run's figure, on stderr: how far apart the runs were.
    printf '%-7s %-7s s: %s\n' "$t" "$phase" "${times[$t-$phase]}" >&2
  done
done
mibs() { awk -v m="$size" -v s="$1" 'BEGIN {printf "%.1f", m / s}'; }
# Throughput of TARGET over the writable layer's (> 1: faster), from times.
ratio() { awk -v l="${med[layer-$2]}" -v t="${med[$1-$2]}" 'BEGIN {printf "%.2f", l / t}'; }

flags="hull's (--cache=auto --sandbox=namespace --seccomp=kill --announce-submounts)"
[[ -n $extra ]] && flags+=" + $extra"
printf 'RUNS=%d (medians), %d MiB sequential, %d small files; timed phases took %d s\n' "$runs" "$size" "$files" "$elapsed"
printf 'virtiofsd: %s %s\n' "$virtiofsd" "$flags"
printf 'host row: %s; containers: QEMU TCG, %s\n' "$host_tools" "$guest_size"
printf '%-15s %10s %10s %9s %7s %9s %8s %8s %7s %8s\n' target write_MiB/s read_MiB/s create_s stat_s delete_s small_s write_x read_x small_x
for t in "${targets[@]}"; do
  printf '%-15s %10s %10s %9.2f %7.2f %9.2f %8.2f %8s %7s %8s\n' "${label[$t]}" \
    "$(mibs "${med[$t-write]}")" "$(mibs "${med[$t-read]}")" \
    "${med[$t-create]}" "${med[$t-stat]}" "${med[$t-delete]}" "${med[$t-small]}" \
    "$(ratio "$t" write)x" "$(ratio "$t" read)x" "$(ratio "$t" small)x"
done
printf 'x: throughput over the writable layer'"'"'s (> 1: faster); small: create+stat+delete of %d files\n' "$files"
printf 'exec overhead (hull exec CONTAINER sh -c true, median of 5): %.3f s, included in every container phase above\n' "$exec_s"
status=0
for phase in write read; do
  r=$(ratio volume "$phase")
  verdict=PASS
  (( $(awk -v r="$r" 'BEGIN {print (r < 0.5)}') )) && { verdict=FAIL; status=1; }
  printf '%s: named volume %s = %sx the writable layer'"'"'s (goal >= 0.50x)\n' "$verdict" "$phase" "$r"
done
printf 'info: small files on the named volume = %sx the writable layer'"'"'s (no goal: each create, stat and unlink is a FUSE round trip to virtiofsd)\n' \
  "$(ratio volume small)"
exit $status
