#!/usr/bin/env bash
# What networking costs and carries, on the QEMU TCG engine, in one run (issue 14):
#   1. start-up: `hull run --rm busybox true` on the default network vs `--network none`,
#      interleaved, N runs each: medians and their ratio (goal: <= 1.10x).
#   2. throughput of SIZE MiB through `nc`:
#      - container -> container on a hull user network,
#      - host -> container through `-p 127.0.0.1:PORT:5001` (the userspace proxy),
#      - the same container -> container transfer between two `podman run --runtime runc`
#        containers on podman's bridge, podman running inside a network namespace this
#        script creates (so podman's bridge never appears in the host's namespace).
#      Each transfer is timed inside the sender (container) or by the host, from the first
#      byte to the receiver's EOF, not counting VM boots.
# All traffic stays inside namespaces hull or this script made, or on the host's 127.0.0.1.
#
# Usage: tests/bench/network.sh [N] [SIZE_MIB]
# Env:   HULL_BIN (default target/release/hull), HULL_KERNEL, HULL_INIT; needs podman and
#        runc for the podman figure (skipped with a note otherwise).
set -euo pipefail
runs=${1:-9}
size=${2:-256}
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/hull}
[[ -x $hull ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }

work=$(mktemp -d)
export HULL_ROOT=$work/root HULL_VMM=qemu HULL_NETWORK_IDLE_TIMEOUT=60 HULL_NETWORK_DNS_UPSTREAM=none HULL_NETWORK_PASTA=none
netns=hull-bench-$$
cleanup() {
  "$hull" rm -f bench-sink bench-proxy >/dev/null 2>&1 || true
  "$hull" network rm bench >/dev/null 2>&1 || true
  if [[ -n ${podman:-} ]]; then
    nsenter --net="/run/netns/$netns" $podman rm -af >/dev/null 2>&1 || true
    nsenter --net="/run/netns/$netns" $podman system reset -f >/dev/null 2>&1 || true
  fi
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

"$hull" image bootstrap busybox >/dev/null
"$hull" run --rm busybox true >/dev/null # warm-up: caches, the bridge network's daemon
"$hull" run --rm --network none busybox true >/dev/null

# 1. Start-up (N=0 skips it).
if (( runs > 0 )); then
  : >"$work/net" ; : >"$work/none"
  for _ in $(seq "$runs"); do
    start=$(now); "$hull" run --rm busybox true; end=$(now)
    echo "$end - $start" | bc >>"$work/net"
    start=$(now); "$hull" run --rm --network none busybox true; end=$(now)
    echo "$end - $start" | bc >>"$work/none"
  done
  net=$(median <"$work/net"); none=$(median <"$work/none")
  echo "start-up, median of $runs: default network ${net} s, --network none ${none} s, ratio $(echo "scale=3; $net / $none" | bc)x"
fi

# 2. Throughput. The receiver says when it listens and, at the end, how many bytes it got;
# the sender times dd | nc with the guest's uptime (busybox date has no %N). A transfer
# whose receiver did not get every byte is reported as failed, not as a figure.
bytes=$((size * 1048576))
# The receiver's stdin is a fifo it holds open itself: busybox nc half-closes its side at
# its stdin's EOF, and the sender's nc would then stop at once.
sink_script='mkfifo /tmp/hold; echo listening; nc -l -p 5001 <>/tmp/hold | wc -c'
sender="read s _ </proc/uptime; dd if=/dev/zero bs=1048576 count=${size} 2>/dev/null | nc \$0 5001; read e _ </proc/uptime; echo \"\$s \$e\""
# wait_for_line CMD...: until CMD's output has a line "listening" (at most 120 s).
wait_listening() {
  for _ in $(seq 600); do "$@" 2>/dev/null | grep -q '^listening$' && { sleep 0.5; return 0; }; sleep 0.2; done
  echo "the receiver never listened" >&2; return 1
}
# report LABEL START END RECEIVED
report() {
  if [[ $4 != "$bytes" ]]; then
    echo "$1: FAILED (the receiver got ${4:-nothing} of $bytes bytes)"
  else
    echo "$1: $(echo "scale=1; $size / ($3 - $2)" | bc) MiB/s"
  fi
}

"$hull" network create bench >/dev/null
"$hull" run -d --name bench-sink --network bench busybox sh -c "$sink_script" >/dev/null
wait_listening "$hull" logs bench-sink
read -r s e < <("$hull" run --rm --network bench busybox sh -c "$sender" bench-sink)
"$hull" wait bench-sink >/dev/null
report "container -> container (hull user network)" "$s" "$e" "$("$hull" logs bench-sink | tail -n 1)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The proxy accepts at once; the container's nc listens once it has booted.
"$hull" run -d --name bench-proxy -p "127.0.0.1:$port:5001" busybox sh -c "$sink_script" >/dev/null
wait_listening "$hull" logs bench-proxy
start=$(now)
head -c "$bytes" /dev/zero >"/dev/tcp/127.0.0.1/$port"
"$hull" wait bench-proxy >/dev/null
end=$(now)
report "host -> container (-p proxy, until the receiver's EOF)" "$start" "$end" "$("$hull" logs bench-proxy | tail -n 1)"

if command -v podman >/dev/null && command -v runc >/dev/null; then
  ip netns add "$netns"
  # nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup mount runc needs.
  in_netns() { nsenter --net="/run/netns/$netns" "$@"; }
  in_netns ip link set lo up
  mkdir -p "$work/podman/networks"
  # The rlimits runc can set here (as the compat suite's podman).
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=30000:30000"]\n[network]\nnetwork_config_dir = "%s"\n' \
    "$work/podman/networks" >"$work/podman/containers.conf"
  podman="env CONTAINERS_CONF=$work/podman/containers.conf podman --root $work/podman/root --runroot $work/podman/run --runtime runc --cgroup-manager cgroupfs --events-backend file"
  "$hull" save -o "$work/busybox.tar" busybox
  in_netns $podman load -q -i "$work/busybox.tar" >/dev/null
  in_netns $podman run -d --name sink busybox sh -c "$sink_script" >/dev/null
  sink_ip=$(in_netns $podman inspect -f '{{.NetworkSettings.IPAddress}}' sink)
  wait_listening in_netns $podman logs sink
  read -r s e < <(in_netns $podman run --rm busybox sh -c "$sender" "$sink_ip")
  in_netns $podman wait sink >/dev/null
  report "container -> container (podman, runc, bridge in a private namespace)" "$s" "$e" "$(in_netns $podman logs sink | tail -n 1)"
else
  echo "podman or runc missing: no podman figure"
fi
