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
export HULL_ROOT=$work/root HULL_VMM=qemu HULL_NETWORK_IDLE_TIMEOUT=60 HULL_NETWORK_DNS_UPSTREAM=none
netns=hull-bench-$$
cleanup() {
  "$hull" rm -f bench-sink bench-proxy >/dev/null 2>&1 || true
  "$hull" network rm bench >/dev/null 2>&1 || true
  if [[ -n ${podman:-} ]]; then
    ip netns exec "$netns" $podman rm -af >/dev/null 2>&1 || true
    ip netns exec "$netns" $podman system reset -f >/dev/null 2>&1 || true
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

# 1. Start-up.
: >"$work/net" ; : >"$work/none"
for _ in $(seq "$runs"); do
  start=$(now); "$hull" run --rm busybox true; end=$(now)
  echo "$end - $start" | bc >>"$work/net"
  start=$(now); "$hull" run --rm --network none busybox true; end=$(now)
  echo "$end - $start" | bc >>"$work/none"
done
net=$(median <"$work/net"); none=$(median <"$work/none")
echo "start-up, median of $runs: default network ${net} s, --network none ${none} s, ratio $(echo "scale=3; $net / $none" | bc)x"

# 2. Throughput. The receiver prints nothing; the sender prints its own elapsed seconds.
sender="s=\$(date +%s.%N); head -c ${size}M /dev/zero | nc -w 5 \$0 5001; e=\$(date +%s.%N); echo \"\$s \$e\""
"$hull" network create bench >/dev/null
"$hull" run -d --name bench-sink --network bench busybox sh -c 'nc -l -p 5001 >/dev/null' >/dev/null
sleep 1
read -r s e < <("$hull" run --rm --network bench busybox sh -c "$sender" bench-sink)
echo "container -> container (hull user network): $(echo "scale=3; $size / ($e - $s)" | bc) MiB/s"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The proxy accepts at once; the container's nc listens once it has booted.
"$hull" run -d --name bench-proxy -p "127.0.0.1:$port:5001" busybox sh -c 'nc -l -p 5001 >/dev/null' >/dev/null
sleep 3
start=$(now)
head -c "${size}M" /dev/zero >"/dev/tcp/127.0.0.1/$port"
"$hull" wait bench-proxy >/dev/null
end=$(now)
echo "host -> container (-p proxy): $(echo "scale=3; $size / ($end - $start)" | bc) MiB/s"

if command -v podman >/dev/null && command -v runc >/dev/null; then
  ip netns add "$netns"
  ip netns exec "$netns" ip link set lo up
  mkdir -p "$work/podman/networks"
  printf '[network]\nnetwork_config_dir = "%s"\n' "$work/podman/networks" >"$work/podman/containers.conf"
  podman="env CONTAINERS_CONF=$work/podman/containers.conf podman --root $work/podman/root --runroot $work/podman/run --runtime runc --cgroup-manager cgroupfs --events-backend file"
  "$hull" save -o "$work/busybox.tar" busybox
  ip netns exec "$netns" $podman load -q -i "$work/busybox.tar" >/dev/null
  ip netns exec "$netns" $podman run -d --name sink busybox sh -c 'nc -l -p 5001 >/dev/null' >/dev/null
  sink_ip=$(ip netns exec "$netns" $podman inspect -f '{{.NetworkSettings.IPAddress}}' sink)
  sleep 1
  read -r s e < <(ip netns exec "$netns" $podman run --rm busybox sh -c "$sender" "$sink_ip")
  echo "container -> container (podman, runc, bridge in a private namespace): $(echo "scale=3; $size / ($e - $s)" | bc) MiB/s"
else
  echo "podman or runc missing: no podman figure"
fi
