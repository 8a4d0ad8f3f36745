#!/usr/bin/env bash
# hull from a fresh clone: installs what is missing, builds, then runs `hull "$@"`.
# The guest kernel and the default images are built on first use and cached.
#   ./hull.sh run --rm -it busybox sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# rustup installs cargo under ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
"$here/scripts/install-deps.sh" --if-missing
"$here/scripts/build.sh"
exec "$here/target/release/hull" "$@"
