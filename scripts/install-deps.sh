#!/usr/bin/env bash
# Installs the system packages hull needs to build and test itself (Debian 12, as root).
# Idempotent; `--if-missing` skips apt entirely when a stamp says this exact list is in place.
set -euo pipefail
# rustup installs cargo under ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

PACKAGES=(
    # VM engine for hosts without hardware KVM (and the reference for benchmarks).
    qemu-system-x86
    # Guest kernel source and its build tools.
    linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev xz-utils
    # Filesystems for layer images and writable disks.
    e2fsprogs erofs-utils
    # Offline base images: busybox from busybox-static, debian via debootstrap.
    busybox-static debootstrap
    # initramfs inspection in tests.
    cpio
    # Interactive (-it) tests drive hull inside a terminal multiplexer.
    tmux
    # podman: the save -> podman load interoperability test, and the reference runtime of the
    # Docker CLI conformance suite (tests/compat), run with runc (catatonit for --init).
    podman runc catatonit
    # Docker's Python clients, as Debian ships them, drive `hull system service` in the API
    # client tests: docker-py (python3-docker) and docker-compose 1.29.
    python3-docker docker-compose
    # The API's TLS test makes its certificates with openssl and checks a client without
    # one is refused with curl.
    openssl curl
    # Containers' outbound traffic: pasta (passt) in each network's namespace, and
    # iptables to masquerade the containers' subnet to pasta's address there.
    passt iptables
    # Registries: the pull/push tests start Debian's docker-registry (distribution 2.8)
    # themselves, with htpasswd (apache2-utils) users; skopeo is the other client they and
    # the pull benchmark compare with.
    docker-registry apache2-utils skopeo
    # Volumes and bind mounts: the Rust virtiofsd (built below with cargo; Debian 12 only
    # has QEMU's deprecated C one) links libseccomp and libcap-ng.
    libseccomp-dev libcap-ng-dev
)
# Built from crates.io into /usr/local/bin (on every PATH, unlike ~/.cargo/bin).
VIRTIOFSD_VERSION=1.14.0

stamp=/var/lib/hull-deps.stamp
want=$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-16)
if [[ ${1:-} == --if-missing && -f $stamp && $(cat "$stamp") == "$want" ]] \
    && command -v virtiofsd >/dev/null; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: run as root (apt-get install needs it)" >&2
    exit 1
fi
if ! command -v cargo >/dev/null; then
    echo "install-deps: Rust (cargo 1.95+, via rustup) is required and cannot be installed from apt" >&2
    exit 1
fi

echo "install-deps: apt-get install ${#PACKAGES[@]} packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null
# The package starts a registry on *:5000 where systemd runs; the tests start their own on
# 127.0.0.1, so the system one stays off.
if command -v systemctl >/dev/null && systemctl is-enabled docker-registry >/dev/null 2>&1; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
echo "$want" >"$stamp"

# Docker's own `docker` client drives `hull system service` in the API tests. Debian's
# docker.io package would also install and start dockerd, so only its client binary is
# taken from the package (API 1.41, as hull serves). A docker client already on PATH is kept.
if ! command -v docker >/dev/null; then
    work=$(mktemp -d)
    (cd "$work" && apt-get download -q docker.io >/dev/null && dpkg-deb -x docker.io_*.deb root)
    install -m 0755 "$work/root/usr/bin/docker" /usr/local/bin/docker
    rm -rf "$work"
    echo "install-deps: docker client installed from Debian's docker.io" >&2
fi

# virtiofsd serves each container's volumes and bind mounts (one per running container).
if ! command -v virtiofsd >/dev/null; then
    echo "install-deps: cargo install virtiofsd $VIRTIOFSD_VERSION (a few minutes)" >&2
    cargo install --quiet --locked --root /usr/local --version "$VIRTIOFSD_VERSION" virtiofsd
fi
