//! What every VM boots: the guest kernel (hull-kernel builds and caches it), its command
//! line (built in one place, hull-kernel's `cmdline`) and the initramfs holding the static
//! `hull-init`, cached under HULL_CACHE keyed by the init binary's hash.

use crate::host::{EngineKind, HostFacts, KvmKind};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Kernel, initramfs and command line for one engine.
#[derive(Debug, Clone)]
pub struct GuestArtifacts {
    /// vmlinux.
    pub kernel: PathBuf,
    /// The hull-init initramfs.
    pub initramfs: PathBuf,
    /// Kernel command line.
    pub cmdline: String,
}

/// True when KVM is hardware-accelerated (QEMU then uses `-accel kvm`).
pub fn hardware_kvm() -> bool {
    HostFacts::detect().kvm == KvmKind::Hardware
}

/// The kernel profile `engine` needs on this host: hull-vmm on an emulation-only KVM needs
/// the compatibility kernel; everything else boots the standard one.
pub fn profile_for(engine: EngineKind) -> hull_kernel::KernelProfile {
    if engine == EngineKind::Hull && !hardware_kvm() {
        hull_kernel::KernelProfile::EmulatedKvmCompat
    } else {
        hull_kernel::KernelProfile::Standard
    }
}

/// Everything `engine` boots, building the kernel or the initramfs on first use.
pub fn artifacts(engine: EngineKind) -> Result<GuestArtifacts> {
    let profile = profile_for(engine);
    let kernel = hull_kernel::ensure_kernel(profile)
        .context("no guest kernel (set HULL_KERNEL to a vmlinux to skip the build)")?;
    let cmdline = hull_kernel::cmdline::GuestCmdline {
        profile,
        engine: match engine {
            EngineKind::Qemu => hull_kernel::cmdline::CmdlineEngine::Qemu,
            EngineKind::Hull => hull_kernel::cmdline::CmdlineEngine::HullVmm,
        },
        quiet: std::env::var_os("HULL_GUEST_VERBOSE").is_none(),
        extra: Vec::new(),
    }
    .render();
    Ok(GuestArtifacts {
        kernel: kernel.vmlinux,
        initramfs: initramfs()?,
        cmdline,
    })
}

/// The static guest init: HULL_INIT, else `hull-init` beside the hull executable, else the
/// source tree's `target/guest/x86_64-unknown-linux-gnu/release/hull-init`.
pub fn locate_init() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("HULL_INIT").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("HULL_INIT={} does not exist", path.display());
        }
        return Ok(path);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hull-init")));
    let in_tree = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guest/x86_64-unknown-linux-gnu/release/hull-init");
    beside
        .into_iter()
        .chain([in_tree])
        .find(|path| path.is_file())
        .context(
            "hull-init not found: build it with RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build \
             --release -p hull-guest-init --target x86_64-unknown-linux-gnu --target-dir target/guest, \
             or set HULL_INIT",
        )
}

/// HULL_CACHE (default /var/cache/hull).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("HULL_CACHE")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/var/cache/hull"), PathBuf::from)
}

/// The initramfs for the current hull-init, built once per distinct binary.
pub fn initramfs() -> Result<PathBuf> {
    let init = locate_init()?;
    let binary = std::fs::read(&init).with_context(|| format!("cannot read {}", init.display()))?;
    let hash = Sha256::digest(&binary);
    let key: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let dir = cache_dir().join("initramfs");
    let path = dir.join(format!("{key}.cpio"));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create {}: set HULL_CACHE to a writable directory",
            dir.display()
        )
    })?;
    let cpio = hull_guest_init::initramfs::build_initramfs_from_bytes(&binary)
        .with_context(|| format!("cannot build the initramfs around {}", init.display()))?;
    crate::container::store::write_atomic(&path, &cpio)?;
    Ok(path)
}
