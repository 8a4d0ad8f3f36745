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
/// source tree's `target/guest/x86_64-unknown-linux-gnu/guest/hull-init`.
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
        .join("../target/guest/x86_64-unknown-linux-gnu/guest/hull-init");
    // `cargo build` in the source tree also leaves a dynamic hull-init beside hull: skip it.
    beside
        .into_iter()
        .chain([in_tree])
        .find(|path| is_static_file(path))
        .with_context(|| {
            format!("no static hull-init found: {STATIC_BUILD_HINT}, or set HULL_INIT")
        })
}

/// How to build the guest init so it can be PID 1 of an initramfs with nothing else in it.
const STATIC_BUILD_HINT: &str =
    "build it with scripts/build.sh (a static, size-optimised build in target/guest)";

/// Reads only the ELF and program headers (the first page holds them): this runs per `hull run`.
fn is_static_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|file| file.take(4096).read_to_end(&mut head))
        .is_ok_and(|_| hull_guest_common::is_static_elf(&head))
}

/// HULL_CACHE (default /var/cache/hull).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("HULL_CACHE")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/var/cache/hull"), PathBuf::from)
}

/// The initramfs for the current hull-init, built once per distinct binary.
///
/// Found by content hash (two paths to the same binary share one cpio). Hashing a 4-5 MiB
/// binary on every `run` costs tens of milliseconds, so a second name keyed by the file's
/// identity (device, inode, size, mtime, ctime: any rebuild or replacement changes one)
/// points at the content-keyed file, and a repeated run only does a `stat`.
pub fn initramfs() -> Result<PathBuf> {
    let init = locate_init()?;
    let dir = cache_dir().join("initramfs");
    let alias = identity_key(&init).map(|key| dir.join(format!("stat-{key}.cpio")));
    if let Some(alias) = alias.as_ref().filter(|a| a.is_file()) {
        return Ok(alias.clone());
    }
    let binary = std::fs::read(&init).with_context(|| format!("cannot read {}", init.display()))?;
    if !hull_guest_common::is_static_elf(&binary) {
        bail!(
            "{} is not statically linked, so it cannot run as the guest's PID 1: {STATIC_BUILD_HINT}",
            init.display()
        );
    }
    let key = short_hash(&binary);
    let name = format!("{key}.cpio");
    let path = dir.join(&name);
    if !path.is_file() {
        std::fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot create {}: set HULL_CACHE to a writable directory",
                dir.display()
            )
        })?;
        let cpio = hull_guest_common::initramfs::build_initramfs_from_bytes(&binary)
            .with_context(|| format!("cannot build the initramfs around {}", init.display()))?;
        crate::container::store::write_atomic(&path, &cpio)?;
    }
    if let Some(alias) = alias {
        // A relative link, so the cache can move. A parallel run may have made it already;
        // without it the next run just hashes again.
        let _ = std::os::unix::fs::symlink(&name, alias);
    }
    Ok(path)
}

/// 32 hex digits of the SHA-256 of `bytes`.
fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A key that changes whenever the file at `path` may have changed (None: cannot stat it).
fn identity_key(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let identity = format!(
        "{}:{}:{}:{}.{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    Some(short_hash(identity.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_key_changes_when_the_file_is_rewritten() {
        let dir = std::env::temp_dir().join(format!("hull-guest-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hull-init");
        std::fs::write(&file, b"one").unwrap();
        let first = identity_key(&file).unwrap();
        assert_eq!(
            identity_key(&file).unwrap(),
            first,
            "stable while unchanged"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"two!").unwrap();
        assert_ne!(identity_key(&file).unwrap(), first);
        assert!(identity_key(&dir.join("missing")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
