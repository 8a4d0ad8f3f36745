#!/usr/bin/env bash
# hull's whole test suite, exactly what CI runs (.ci/run).
#   ./test.sh          default tier: lint, unit, KVM tiny-guest, kernel build, end-to-end (QEMU)
#   ./test.sh --slow   also the slow tier (#[ignore] tests: the real kernel on hull-vmm under
#                      this host's emulation-only KVM, debian bootstrap, ...)
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)
step() { printf '\n== %s (t+%ss)\n' "$*" "$(($(date +%s) - start))"; }

slow=()
[[ ${1:-} == --slow ]] && slow=(-- --include-ignored)

step "system packages"
scripts/install-deps.sh

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings

step "build"
scripts/build.sh -v

step "guest kernel (cached by content hash)"
# Built here so a failure shows as this step; hull then finds it in the cache instantly.
kernel-config/build.sh >/dev/null
export HULL_INIT=$PWD/target/guest/x86_64-unknown-linux-gnu/release/hull-init
export HULL_BIN=$PWD/target/release/hull
export HULL_VMM_BIN=$PWD/target/release/hull-vmm

step "tests"
cargo test --release --workspace "${slow[@]}"

step "done in $(($(date +%s) - start)) s"
