#!/usr/bin/env bash
# hull's whole test suite, exactly what CI runs (.ci/run).
#   ./test.sh          everything: lint, unit, KVM tiny guests, kernel builds, end-to-end
#                      through QEMU, and the slow tier (#[ignore] tests: the real kernel and a
#                      container on hull-vmm under an emulation-only KVM, debian bootstrap)
#   ./test.sh --fast   the same without the slow tier and without the pvm-compat kernel
set -euo pipefail
cd "$(dirname "$0")"
# rustup installs cargo under ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
start=$(date +%s)
step() { printf '\n== %s (t+%ss)\n' "$*" "$(($(date +%s) - start))"; }

fast=false
[[ ${1:-} == --fast ]] && fast=true

step "system packages"
scripts/install-deps.sh

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings

step "build"
scripts/build.sh -v

# Built here so a failure shows as its own step; hull and the tests then find them in the
# cache at once. Cold: ~4 min each on 2 cores.
step "guest kernel: standard (cached by content hash)"
kernel-config/build.sh >/dev/null
if ! $fast; then
    step "guest kernel: pvm-compat (cached by content hash)"
    kernel-config/build.sh --profile pvm-compat >/dev/null
fi

export HULL_INIT=$PWD/target/guest/x86_64-unknown-linux-gnu/guest/hull-init
export HULL_BIN=$PWD/target/release/hull
export HULL_VMM_BIN=$PWD/target/release/hull-vmm

step "tests"
# A hung test must fail the run with its name on screen, not run into CI's 90 minutes
# (the whole step takes ~20 min here). timeout signals the test binaries' process group.
tests_timeout=${HULL_TESTS_TIMEOUT:-70m}
if $fast; then
    timeout -k 30 "$tests_timeout" cargo test --release --workspace
else
    timeout -k 30 "$tests_timeout" cargo test --release --workspace -- --include-ignored
fi

# The suite above restores every VM from a warm-start zygote (issue 19); the core
# end-to-end tests run once more with every VM booting its kernel, the other way in.
step "end-to-end tests again, every VM booted cold (HULL_WARM=off)"
# --workspace, as above: the same feature resolution reuses that build (`-p` recompiled ~3 min).
HULL_WARM=off timeout -k 30 25m cargo test --release --workspace --test run --test exec \
    --test lifecycle --test attach --test tty --test networking --test flags

# And once more with a warm pool (HULL_WARM_POOL=1): containers whose VM fits are handed a
# running VM that rehearsed a stand-in container. Its own zygote cache, whose pool VMs (they
# outlive the tests) go at the end.
step "end-to-end tests again, VMs from a warm pool (HULL_WARM_POOL=1)"
pool_cache=$(mktemp -d)
end_pool() { HULL_WARM_CACHE=$pool_cache "$HULL_BIN" system warm --rm >/dev/null || true; rm -rf "$pool_cache"; }
trap end_pool EXIT
HULL_WARM_POOL=1 HULL_WARM_CACHE=$pool_cache timeout -k 30 25m cargo test --release --workspace \
    --test run --test exec --test lifecycle --test attach --test tty --test networking --test flags
end_pool
trap - EXIT

step "done in $(($(date +%s) - start)) s"
