#!/usr/bin/env bash
# Builds hull's binaries: `hull` and `hull-vmm` (release), and the static guest `hull-init`
# in target/guest/x86_64-unknown-linux-gnu/guest/, where hull finds it. (Not beside `hull`:
# `cargo test` puts a dynamic hull-init there.) Prints nothing on success unless -v.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=(--quiet)
[[ ${1:-} == -v ]] && quiet=()

cargo build "${quiet[@]}" --release -p hull-cli -p hull-vmm
# --target keeps crt-static off build scripts and proc macros (they must stay dynamic).
# Static, not static-pie: no start-up relocation pass over the binary in the guest. The
# `guest` profile (Cargo.toml) builds for size: the initramfs is unpacked on every boot.
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build "${quiet[@]}" --profile guest \
    -p hull-guest-init --target x86_64-unknown-linux-gnu --target-dir target/guest
