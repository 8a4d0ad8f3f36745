#!/usr/bin/env bash
# The image store's kill -9 tests (rootfs-tools/tests/crash.rs) run N times in a row under
# CPU load, stopping at the first failure. Proves the crash tests are not flaky: a flaky test
# in CI blocks landings at random and hides real failures.
#   tests/bench/crash-stress.sh [N]          N runs (default 200)
# Env: LOAD (default 2) busy loops run beside the tests for the whole stress run, each
#      bounded by the run's own lifetime (killed on exit); CRASH_TEST_BIN runs this crash
#      test binary instead of building the current tree's (e.g. an older build, to compare);
#      COLD=1 drops the page cache before each run (as root), so every exec of mkfs.erofs
#      reads its binary from disk as on a fresh machine, which widens fork-to-exec windows.
# Prints one line per failure and a closing 'N passed, N failed'.
set -euo pipefail
runs=${1:-200}
load=${LOAD:-2}
repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
bin=${CRASH_TEST_BIN:-}
if [[ -z $bin ]]; then
  bin=$(cd "$repo" && cargo test --release -p hull-rootfs --test crash --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
fi
[[ -x ${bin:-} ]] || { echo "cannot build or find the crash test binary" >&2; exit 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for ((i = 0; i < load; i++)); do
  # A bounded busy loop: at most one hour, and killed when this script ends.
  timeout 3600 sh -c 'while :; do :; done' &
  pids+=($!)
done

log=$(mktemp)
passed=0 failed=0 start=$(date +%s)
for ((run = 1; run <= runs; run++)); do
  [[ ${COLD:-0} == 1 ]] && { sync; echo 3 >/proc/sys/vm/drop_caches; }
  if "$bin" >"$log" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "run $run failed:"
    grep -E 'FAILED|Error|panicked' "$log" | head -5 | sed 's/^/  /'
    break
  fi
done
echo "crash tests: $passed of $runs runs in a row passed under $load busy loops ($(($(date +%s) - start)) s, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "$passed passed, $failed failed"
rm -f "$log"
[[ $failed -eq 0 ]]
