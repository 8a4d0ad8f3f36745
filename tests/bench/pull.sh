#!/usr/bin/env bash
# Pull of a many-layer image from a local registry (issue 18), in one run: `hull pull`
# next to `skopeo copy docker://... oci:DIR` (download only) and `podman pull` (download and
# unpack into its store), RUNS each, interleaved, every run into an empty store. The image:
# LAYERS layers of LAYER_MB MiB of random bytes each (gzip level 1: incompressible), made
# here as an OCI layout and pushed to Debian's docker-registry on 127.0.0.1 by skopeo.
# Goal: hull no slower than either (ratio of medians <= 1.00x, reported honestly).
# Prints a table and one PASS/FAIL line per goal; exits 1 if a goal is missed.
#
# Usage: tests/bench/pull.sh
# Env:   RUNS (default 3), LAYERS (default 20), LAYER_MB (default 10); HULL_BIN (default
#        target/release/hull). Needs docker-registry, skopeo, podman, python3.
set -euo pipefail
runs=${RUNS:-3}
layers=${LAYERS:-20}
layer_mb=${LAYER_MB:-10}
repo=$(cd "$(dirname "$0")/../.." && pwd)
hull=${HULL_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/hull}
[[ -x $hull ]] || { echo "no hull binary: run scripts/build.sh, or set HULL_BIN" >&2; exit 1; }
for tool in docker-registry skopeo podman python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ -n ${EPOCHREALTIME:-} ]] || { echo "need bash >= 5 (EPOCHREALTIME)" >&2; exit 1; }

work=$(mktemp -d /tmp/hull-bench-pull.XXXXXX)
registry_pid=
cleanup() {
  set +e
  [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  findmnt -rn -o TARGET | grep "^$work/" | xargs -r -n1 umount -l
  rm -rf "$work"
}
trap cleanup EXIT

echo "making a $layers-layer image of $((layers * layer_mb)) MiB ..." >&2
python3 - "$work/layout" "$layers" "$layer_mb" <<'PYEOF'
import gzip, hashlib, io, json, os, sys, tarfile
out, count, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)
layers, diff_ids = [], []
for n in range(count):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = os.urandom(mib << 20)
        info = tarfile.TarInfo(f"data/layer-{n:02}.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
    digest, size = put(gzip.compress(raw.getvalue(), compresslevel=1, mtime=0))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cdigest, csize = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
            "layers": layers}
mdigest, msize = put(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": mdigest, "size": msize, "annotations": {"org.opencontainers.image.ref.name": "1"}}]},
          open(os.path.join(out, "index.json"), "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(out, "oci-layout"), "w"))
PYEOF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
image=127.0.0.1:$port/many:1
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:1" "docker://$image"

export HULL_CONFIG=$work/hull-config DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG"
echo '{}' >"$DOCKER_CONFIG/config.json"
declare -A times
time_one() { # name command...: appends the wall time in seconds to times[name]
  local name=$1 start end
  shift
  start=$EPOCHREALTIME
  "$@" >/dev/null 2>"$work/last.err" || { echo "$name failed:" >&2; cat "$work/last.err" >&2; exit 1; }
  end=$EPOCHREALTIME
  times[$name]+="$(echo "$end - $start" | bc -l) "
}
order=(hull skopeo podman)
for run in $(seq "$runs"); do
  # Alternate the order, so no tool always runs on a warm page cache after another.
  (( run % 2 == 0 )) && order=(podman skopeo hull) || order=(hull skopeo podman)
  for tool in "${order[@]}"; do
    dir=$work/$tool-$run
    case $tool in
      hull)
        time_one hull env HULL_ROOT="$dir" HULL_LOG=debug "$hull" pull -q "$image"
        # Its download phase alone, from its own log: what skopeo copy does.
        download_ms=$(grep -o 'download_ms=[0-9]*' "$work/last.err" | cut -d= -f2)
        times[hull-download]+="$(echo "$download_ms / 1000" | bc -l) "
        ;;
      skopeo) time_one skopeo skopeo copy --quiet --src-tls-verify=false "docker://$image" "oci:$dir:1" ;;
      podman) time_one podman podman --root "$dir/root" --runroot "$dir/run" pull -q --tls-verify=false "$image" ;;
    esac
    if [[ $tool == podman ]]; then
      podman --root "$dir/root" --runroot "$dir/run" rmi -af >/dev/null 2>&1 || true
      # Its storage driver keeps a mount in its root.
      umount -l "$dir/root/overlay" 2>/dev/null || true
    fi
    rm -rf "$dir"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-14s %10s   (%d runs, %d layers x %d MiB)\n' tool median_s "$runs" "$layers" "$layer_mb"
declare -A med
for tool in hull hull-download skopeo podman; do
  med[$tool]=$(echo "${times[$tool]}" | median)
  printf '%-14s %10.2f   runs: %s\n' "$tool" "${med[$tool]}" "$(printf '%.2f ' ${times[$tool]})"
done
status=0
for other in skopeo podman; do
  ratio=$(echo "${med[hull]} / ${med[$other]}" | bc -l)
  verdict=PASS
  (( $(echo "$ratio > 1.0" | bc -l) )) && { verdict=FAIL; status=1; }
  printf '%s: hull/%s = %.2fx (goal <= 1.00x)\n' "$verdict" "$other" "$ratio"
done
ratio=$(echo "${med[hull-download]} / ${med[skopeo]}" | bc -l)
printf 'info: hull download phase / skopeo copy = %.2fx (skopeo neither unpacks nor converts)\n' "$ratio"
exit $status
