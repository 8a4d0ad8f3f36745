//! The zygotes in the cache (`$HULL_CACHE/warm/<engine>-<key>/`): the saved VM (`state`),
//! the empty disk its spare slots use (`spare.img`) and `meta.json`, which records what the
//! zygote was made from. The key is a hash of the same inputs, so a zygote is never restored
//! into a VM of another shape; one whose `meta.json` or `state` disagrees (a wrong format
//! version, a truncated file) is discarded and made again.

use super::super::{max_layer_disks, DiskSpec, Engine, NicSpec, VmSpec};
use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Bumped whenever what a zygote holds, or how hull-init parks, changes.
pub const FORMAT_VERSION: u32 = 3;

/// The size of a zygote's placeholder disks (sparse files of zeros), so the size its guest
/// records for every disk is at least that of any real one: a restored guest reads each
/// disk within its file system's own bounds, never up to the recorded size (QEMU has no way
/// to tell a restored guest a read-only disk's size changed).
const PLACEHOLDER_BYTES: u64 = 1 << 40;
/// Zygotes kept at most (each is tens of MB); a new one evicts the oldest beyond this, such
/// as those of a kernel or hull that was replaced.
const MAX_ZYGOTES: usize = 8;
/// After a failed attempt, VMs of that shape boot cold for this long before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(600);

/// Where zygotes are kept: HULL_WARM_CACHE, else `warm` in the cache.
pub fn warm_dir() -> PathBuf {
    std::env::var_os("HULL_WARM_CACHE")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| crate::guest::cache_dir().join("warm"), PathBuf::from)
}

/// Everything a zygote depends on.
#[derive(Debug, Clone)]
pub struct Shape {
    engine: String,
    inputs: String,
    base: VmSpec,
    layer_slots: usize,
}

/// A VM saved where its guest waits for its run spec.
#[derive(Debug, Clone)]
pub struct Zygote {
    /// Its directory.
    pub dir: PathBuf,
    /// The kernel command line it booted with (a restore passes the same).
    pub cmdline: String,
    /// Read-only layer disk slots between the config and writable disks.
    pub layer_slots: usize,
}

/// What `meta.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// [`FORMAT_VERSION`] of the hull that made it.
    pub format: u32,
    /// `qemu` or `hull`.
    pub engine: String,
    /// The inputs its key hashes, one per line.
    pub inputs: String,
    /// Size of `state`.
    pub state_len: u64,
    /// Size of `memory` (format 2 on).
    #[serde(default)]
    pub memory_len: u64,
    /// Guest memory in MiB.
    pub mem_mib: u64,
    /// vCPUs.
    pub cpus: u32,
    /// NICs.
    pub nics: usize,
    /// When it was made (RFC 3339).
    pub created: String,
}

impl Zygote {
    /// The saved VM.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Its guest RAM (both engines), mapped copy-on-write by every restore.
    pub fn memory(&self) -> PathBuf {
        self.dir.join("memory")
    }

    /// The empty disk of the layer slots a container does not use.
    pub fn spare_disk(&self) -> PathBuf {
        self.dir.join("spare.img")
    }

    /// Removes it (it failed to restore): the next VM of its shape makes a new one. Running
    /// restores keep the files they opened.
    pub fn discard(&self) {
        discard_dir(&self.dir);
    }
}

impl Shape {
    /// The zygote shape of `spec` on `engine`; None when its disks do not fit the slots.
    pub fn of(engine: &dyn Engine, spec: &VmSpec) -> Option<Self> {
        let layer_slots = max_layer_disks(engine.kind(), spec.nics.len(), false);
        if spec.disks.len() > layer_slots + 2 || spec.nics.len() > 1 {
            return None;
        }
        let engine_name = match engine.kind() {
            crate::host::EngineKind::Qemu => "qemu",
            crate::host::EngineKind::Hull => "hull",
        };
        let inputs = [
            format!("format {FORMAT_VERSION}"),
            format!("engine {engine_name} {}", engine.build_id()),
            format!("kernel {}", file_identity(&spec.kernel)),
            format!("initramfs {}", file_identity(&spec.initramfs)),
            format!("cmdline {}", spec.cmdline),
            format!("memory {} MiB, {} vCPUs", spec.mem_mib, spec.cpus),
            format!("{} NICs, {layer_slots} layer slots", spec.nics.len()),
        ]
        .join("\n");
        Some(Self {
            engine: engine_name.into(),
            inputs,
            base: spec.clone(),
            layer_slots,
        })
    }

    /// `$HULL_CACHE/warm/<engine>-<16 hex digits of the inputs' SHA-256>`.
    pub fn dir(&self) -> PathBuf {
        let digest = Sha256::digest(self.inputs.as_bytes());
        let key: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        warm_dir().join(format!("{}-{key}", self.engine))
    }

    /// The inputs the key hashes, one per line.
    pub fn inputs(&self) -> &str {
        &self.inputs
    }

    fn zygote(&self, dir: PathBuf) -> Zygote {
        Zygote {
            dir,
            cmdline: format!("{} {}", self.base.cmdline, hull_protocol::WARM_BOOT_PARAM),
            layer_slots: self.layer_slots,
        }
    }
}

/// `path` resolved, with its size and modification time: changes whenever the file does.
pub fn file_identity(path: &Path) -> String {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let stamp = std::fs::metadata(&resolved).map_or_else(
        |_| "missing".to_string(),
        |meta| {
            use std::os::unix::fs::MetadataExt;
            format!(
                "{} bytes, mtime {}.{}",
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec()
            )
        },
    );
    format!("{} ({stamp})", resolved.display())
}

/// The valid zygote of `shape`, made now (under a lock: one maker per shape) if there is
/// none; None while a recent attempt to make it failed.
pub fn find_or_make(engine: &dyn Engine, shape: &Shape) -> Result<Option<Zygote>> {
    let dir = shape.dir();
    if let Some(zygote) = load(&dir, shape) {
        return Ok(Some(zygote));
    }
    let failed = dir.with_extension("failed");
    if modified_within(&failed, RETRY_AFTER) {
        return Ok(None);
    }
    std::fs::create_dir_all(warm_dir())
        .with_context(|| format!("cannot create {}", warm_dir().display()))?;
    let lock = File::create(dir.with_extension("lock"))?;
    let _lock = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock the zygote {}: {e}", dir.display()))?;
    if let Some(zygote) = load(&dir, shape) {
        return Ok(Some(zygote));
    }
    if std::io::stderr().is_terminal() {
        eprintln!("hull: preparing the warm-start snapshot for this kernel and VM size (once)");
    }
    match make(engine, shape, &dir) {
        Ok(zygote) => {
            let _ = std::fs::remove_file(&failed);
            evict_oldest(&warm_dir(), MAX_ZYGOTES);
            Ok(Some(zygote))
        }
        Err(err) => {
            let _ = std::fs::write(&failed, format!("{err:#}\n"));
            Err(err)
        }
    }
}

fn modified_within(path: &Path, window: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .is_some_and(|age| age < window)
}

/// The zygote in `dir` if it is whole and of `shape`; a stale or damaged one is discarded.
pub(super) fn load(dir: &Path, shape: &Shape) -> Option<Zygote> {
    let meta = read_meta(dir)?;
    let zygote = shape.zygote(dir.to_path_buf());
    let problem = match meta {
        Err(problem) => problem,
        Ok(meta) if meta.format != FORMAT_VERSION => {
            format!("it has format {}, this hull {FORMAT_VERSION}", meta.format)
        }
        Ok(meta) if meta.inputs != shape.inputs => "it was made from other inputs".into(),
        Ok(meta) => match (
            file_len(&zygote.state(), meta.state_len),
            file_len(&zygote.memory(), meta.memory_len),
        ) {
            (Ok(()), Ok(())) => return Some(zygote),
            (Err(problem), _) => format!("its state {problem}"),
            (_, Err(problem)) => format!("its memory {problem}"),
        },
    };
    tracing::warn!(
        "discarding the warm-start zygote {}: {problem}",
        dir.display()
    );
    discard_dir(dir);
    None
}

/// Ok when `path` has `expected` bytes; else what is wrong, for a message.
fn file_len(path: &Path, expected: u64) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() == expected => Ok(()),
        Ok(meta) => Err(format!("has {} bytes, not {expected}", meta.len())),
        Err(e) => Err(format!("is unreadable: {e}")),
    }
}

/// None: no zygote there; Some(Err): one is there but its meta.json is damaged.
fn read_meta(dir: &Path) -> Option<Result<Meta, String>> {
    let text = match std::fs::read(dir.join("meta.json")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() => return None,
        Err(e) => return Some(Err(format!("its meta.json is unreadable: {e}"))),
        Ok(text) => text,
    };
    Some(serde_json::from_slice(&text).map_err(|e| format!("its meta.json is damaged: {e}")))
}

/// Renames `dir` out of the way first (a restore starting now must not see half of it).
fn discard_dir(dir: &Path) {
    super::pool::stop_all(dir);
    let doomed = dir.with_extension(format!("discarded-{}", std::process::id()));
    if std::fs::rename(dir, &doomed).is_ok() {
        let _ = std::fs::remove_dir_all(doomed);
    }
}

/// Boots `shape`'s zygote, waits for its guest to park, saves it, then moves it into `dir`.
fn make(engine: &dyn Engine, shape: &Shape, dir: &Path) -> Result<Zygote> {
    let building = dir.with_extension(format!("building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building)
        .with_context(|| format!("cannot create {}", building.display()))?;
    let socket_dir = std::env::temp_dir().join(format!("hull-zygote-{}", std::process::id()));
    let result = boot_and_save(engine, shape, &building, &socket_dir);
    let _ = std::fs::remove_dir_all(&socket_dir);
    if let Err(err) = result {
        let _ = std::fs::remove_dir_all(&building);
        return Err(err);
    }
    std::fs::rename(&building, dir)
        .with_context(|| format!("cannot move the zygote to {}", dir.display()))?;
    Ok(shape.zygote(dir.to_path_buf()))
}

fn boot_and_save(engine: &dyn Engine, shape: &Shape, dir: &Path, socket_dir: &Path) -> Result<()> {
    let placeholder = |name: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        File::create(&path)
            .and_then(|file| file.set_len(PLACEHOLDER_BYTES))
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(path)
    };
    let zygote = shape.zygote(dir.to_path_buf());
    let mut disks = vec![DiskSpec {
        path: placeholder("config.img")?,
        serial: hull_protocol::CONFIG_DISK_SERIAL.into(),
        read_only: false,
    }];
    placeholder("spare.img")?;
    disks.extend((0..shape.layer_slots).map(|index| DiskSpec {
        path: zygote.spare_disk(),
        serial: hull_protocol::spare_disk_serial(index),
        read_only: true,
    }));
    disks.push(DiskSpec {
        path: placeholder("rw.img")?,
        serial: hull_protocol::WRITABLE_DISK_SERIAL.into(),
        read_only: false,
    });
    let spec = VmSpec {
        cmdline: zygote.cmdline.clone(),
        disks,
        socket_dir: socket_dir.to_path_buf(),
        serial_log: dir.join("boot.log"),
        engine_log: dir.join("engine.log"),
        nics: zygote_nics(shape.base.nics.len()),
        share: None,
        restore: None,
        zygote_memory: Some(zygote.memory()),
        rehearse: false,
        ..shape.base.clone()
    };
    let mut vm = engine.spawn(&spec)?;
    if let Err(err) = wait_for_park(&mut vm, &spec, engine.park_timeout()) {
        let _ = vm.child.kill();
        let _ = vm.child.wait();
        return Err(err);
    }
    engine.save(&mut vm, socket_dir, &zygote.state())?;
    let state_len = std::fs::metadata(zygote.state())
        .with_context(|| format!("the engine saved nothing at {}", zygote.state().display()))?
        .len();
    // The state and memory are a guest kernel's (its layout, its random state before a
    // restore reseeds it): readable by hull's user only.
    for file in [zygote.state(), zygote.memory()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", file.display()))?;
    }
    let memory_len = std::fs::metadata(zygote.memory())
        .with_context(|| format!("the engine saved no {}", zygote.memory().display()))?
        .len();
    let meta = Meta {
        format: FORMAT_VERSION,
        engine: shape.engine.clone(),
        inputs: shape.inputs.clone(),
        state_len,
        memory_len,
        mem_mib: spec.mem_mib,
        cpus: spec.cpus,
        nics: spec.nics.len(),
        created: crate::container::state::now_rfc3339(),
    };
    crate::container::store::write_atomic(
        &dir.join("meta.json"),
        &serde_json::to_vec_pretty(&meta)?,
    )?;
    // Only the boot needed these.
    for name in ["config.img", "rw.img"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    Ok(())
}

/// `count` NICs as a zygote has them: the zygote's MAC, on a hub of their own (no tap).
pub(super) fn zygote_nics(count: usize) -> Vec<NicSpec> {
    (0..count)
        .map(|_| NicSpec {
            tap: None,
            mac: hull_protocol::ZYGOTE_MAC.into(),
        })
        .collect()
}

/// Reads the zygote's control console until its guest says it has parked.
pub(super) fn wait_for_park(
    vm: &mut super::super::RunningVm,
    spec: &VmSpec,
    timeout: Duration,
) -> Result<()> {
    let Some(events) = vm.consoles.events.take() else {
        bail!("this engine gives the guest no control console");
    };
    let (sender, parked) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(events).split(b'\n').map_while(Result::ok) {
            if hull_protocol::GuestEvent::parse_line(&line)
                == Some(hull_protocol::GuestEvent::Parked)
            {
                let _ = sender.send(());
                return;
            }
        }
    });
    parked.recv_timeout(timeout).map_err(|_| {
        anyhow::anyhow!(
            "the zygote's guest did not park within {timeout:?}; its log:\n{}",
            super::super::log_tail(&spec.serial_log, 1500)
        )
    })
}

/// Every zygote in the cache with its meta and size on disk (`hull system warm`).
pub fn list() -> Vec<(PathBuf, Meta, u64)> {
    list_in(&warm_dir())
}

fn list_in(dir: &Path) -> Vec<(PathBuf, Meta, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir() && path.extension().is_none())
        .filter_map(|dir| {
            let meta = read_meta(&dir)?.ok()?;
            let bytes = crate::system::disk_usage::tree_size(&dir);
            Some((dir, meta, bytes))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Discards the oldest zygotes in `dir` (by creation) until at most `keep` remain.
pub(super) fn evict_oldest(dir: &Path, keep: usize) {
    let mut zygotes = list_in(dir);
    zygotes.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    let excess = zygotes.len().saturating_sub(keep);
    for (dir, _, _) in zygotes.into_iter().take(excess) {
        tracing::debug!("evicting the warm-start zygote {}", dir.display());
        discard_dir(&dir);
    }
}

/// Removes every zygote (and failure marker); returns how many zygotes went.
pub fn remove_all() -> Result<usize> {
    let dir = warm_dir();
    let zygotes = list();
    for (zygote, _, _) in &zygotes {
        super::pool::stop_all(zygote);
    }
    let count = zygotes.len();
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(count),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", dir.display())),
    }
}
