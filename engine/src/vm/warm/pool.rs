//! The warm pool (`HULL_WARM_POOL=N`, as Kata's VM cache): up to N restores of a zygote kept
//! running, each of which has rehearsed a stand-in container ([`super::rehearsal`]) and parked
//! again. Under TCG a restored VM starts with no translated code, and translating the guest
//! code of a container's start costs more than running it; a rehearsed VM has it translated.
//!
//! A container whose VM fits (QEMU, no NIC, no share) claims a ready VM: its disk slots are
//! moved to the container's files over QMP (`blockdev-reopen`), COM1 to its log
//! (`chardev-change`), its consoles are connected again, and the usual resume (clock, fresh
//! entropy, dropped disk caches) hands it over. Claiming spawns a filler (`hull system warm
//! --fill`, at low priority) for every VM the pool lacks. A VM that cannot be taken is killed;
//! the container is then restored from the zygote as without a pool.
//!
//! Entries live in `<zygote>/pool/<id>.<state>` (`filling`, `ready`, `claimed`; renames
//! claim), the VMs' sockets in `$TMPDIR/hull-pool-<id>/`.

use super::{cache, handshake, rehearsal, slot_disks, Zygote};
use crate::container::liveness::ProcessRef;
use crate::host::EngineKind;
use crate::vm::process::{Adopted, VmmProcess};
use crate::vm::qemu::{slot_file_node, SERIAL_CHARDEV};
use crate::vm::qmp::{qmp_socket, QmpClient};
use crate::vm::{
    console_socket, consoles_of, prepare_socket_dir, DiskSpec, Engine, NicSpec, RunningVm, VmSpec,
    CONSOLE_PORTS,
};
use anyhow::{bail, Context, Result};
use hull_protocol::ControlMessage;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The environment variable that sizes the pool (0 or unset: no pool).
pub const POOL_ENV: &str = "HULL_WARM_POOL";
/// The environment variable that bounds how long a ready VM waits to be claimed, in
/// seconds (0: for ever); it then powers itself off and the next claim makes a new one.
pub const IDLE_ENV: &str = "HULL_WARM_POOL_IDLE";
/// [`IDLE_ENV`]'s default: ten minutes.
const DEFAULT_IDLE_SECONDS: u32 = 600;
/// Most VMs kept per zygote.
const MAX_POOL: usize = 8;
/// How long a rehearsal may take before its filler gives up.
const REHEARSAL_TIMEOUT: Duration = Duration::from_secs(60);
/// The niceness of fillers (and their QEMUs): a container starting now comes first.
const FILLER_NICENESS: i32 = 10;

const FILLING: &str = "filling";
const READY: &str = "ready";
const CLAIMED: &str = "claimed";

/// VMs to keep per zygote: `HULL_WARM_POOL`, at most [`MAX_POOL`].
pub fn size() -> usize {
    parse_size(std::env::var(POOL_ENV).ok().as_deref())
}

/// How long a ready VM waits to be claimed ([`IDLE_ENV`]).
pub fn idle_seconds() -> u32 {
    std::env::var(IDLE_ENV)
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(DEFAULT_IDLE_SECONDS)
}

fn parse_size(value: Option<&str>) -> usize {
    value
        .and_then(|value| value.trim().parse::<usize>().ok())
        .map_or(0, |size| size.min(MAX_POOL))
}

/// Whether `spec`'s VM can come from the pool: QEMU (whose running VMs can be given other
/// disks and taps), no share (a pool VM cannot be given one).
pub fn serves(engine: &dyn Engine, spec: &VmSpec) -> bool {
    size() > 0
        && engine.kind() == EngineKind::Qemu
        && spec.share.is_none()
        && spec.nics.iter().all(|nic| nic.tap.is_some())
}

/// What a filler needs to find the zygote again (the shape's inputs are recomputed from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Recipe {
    kernel: PathBuf,
    initramfs: PathBuf,
    cmdline: String,
    mem_mib: u64,
    cpus: u32,
    nics: usize,
}

fn pool_dir(zygote_dir: &Path) -> PathBuf {
    zygote_dir.join("pool")
}

fn entry(pool: &Path, id: &str, state: &str) -> PathBuf {
    pool.join(format!("{id}.{state}"))
}

/// A pool VM's sockets (unix socket paths must stay short).
fn socket_dir(id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hull-pool-{id}"))
}

fn read_process(path: &Path) -> Option<ProcessRef> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Claims a ready VM of `zygote` for `spec` and hands it over; None when none is ready or
/// none could be taken (each failure logged, its VM killed).
pub fn claim(zygote: &Zygote, spec: &VmSpec) -> Option<RunningVm> {
    // Checked before a VM is taken: one that does not fit would be wasted.
    let disks = slot_disks(zygote, &spec.disks)?;
    let pool = pool_dir(&zygote.dir);
    let mut ready: Vec<String> = entries(&pool, READY);
    ready.sort();
    for id in ready {
        let claimed = entry(&pool, &id, CLAIMED);
        if std::fs::rename(entry(&pool, &id, READY), &claimed).is_err() {
            continue; // another container took it first
        }
        let taken = hand_over(spec, &disks, &claimed, &id);
        let _ = std::fs::remove_dir_all(&claimed);
        let _ = std::fs::remove_dir_all(socket_dir(&id));
        match taken {
            Ok(vm) => return Some(vm),
            Err(err) => tracing::warn!("cannot take the warm-pool VM {id}: {err:#}"),
        }
    }
    None
}

/// Adopts the VMM of the claimed `entry` and hands its VM to `spec` (`disks`: the container's
/// in the VM's slot order); the VMM is killed if that fails.
fn hand_over(spec: &VmSpec, disks: &[DiskSpec], entry: &Path, id: &str) -> Result<RunningVm> {
    let recorded = read_process(&entry.join("vmm.json")).context("no VMM recorded")?;
    let mut process = VmmProcess::Adopted(Adopted::open(recorded).context("its VMM is gone")?);
    let handed = connect_as(spec, disks, entry, id);
    match handed {
        Ok(consoles) => Ok(RunningVm {
            child: process,
            consoles,
        }),
        Err(err) => {
            let _ = process.kill();
            Err(err)
        }
    }
}

/// Moves the VM's disk slots and COM1 to the container's, connects its consoles, moves its
/// QMP socket to the container's socket directory and resumes it.
fn connect_as(
    spec: &VmSpec,
    disks: &[DiskSpec],
    entry: &Path,
    id: &str,
) -> Result<crate::vm::Consoles> {
    let sockets = socket_dir(id);
    let mut qmp = QmpClient::connect(&qmp_socket(&sockets))?;
    move_disks(&mut qmp, disks)?;
    connect_nics(&mut qmp, &spec.nics)?;
    qmp.execute_with(
        "chardev-change",
        Some(json!({
            "id": SERIAL_CHARDEV,
            "backend": { "type": "file", "data": { "out": spec.serial_log } },
        })),
    )?;
    drop(qmp);
    let mut streams = Vec::with_capacity(CONSOLE_PORTS.len());
    for port in CONSOLE_PORTS {
        let path = console_socket(&sockets, port);
        streams.push(
            UnixStream::connect(&path)
                .with_context(|| format!("cannot connect {}", path.display()))?,
        );
    }
    let streams: [UnixStream; 3] = streams
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected three console sockets"))?;
    prepare_socket_dir(&spec.socket_dir)?;
    std::fs::rename(qmp_socket(&sockets), qmp_socket(&spec.socket_dir))
        .context("cannot move the VM's QMP socket to the container's")?;
    // The VMM's log so far is the rehearsal's; it goes on in the same file.
    let _ = std::fs::rename(entry.join("engine.log"), &spec.engine_log);
    handshake::resume(&streams[2], false)?;
    consoles_of(streams)
}

/// Puts `disks` (the container's, in slot order) under the VM's slots: a new file node
/// each, reopened under the slot's raw node, the old file node deleted.
fn move_disks(qmp: &mut QmpClient, disks: &[DiskSpec]) -> Result<()> {
    for (index, disk) in disks.iter().enumerate() {
        let node = format!("c{index}");
        qmp.execute_with(
            "blockdev-add",
            Some(json!({
                "driver": "file",
                "node-name": node,
                "filename": disk.path,
                "read-only": disk.read_only,
            })),
        )?;
        qmp.execute_with(
            "blockdev-reopen",
            Some(json!({ "options": [{
                "driver": "raw",
                "node-name": format!("d{index}"),
                "file": node,
                "read-only": disk.read_only,
            }]})),
        )?;
        qmp.execute_with(
            "blockdev-del",
            Some(json!({ "node-name": slot_file_node(index) })),
        )?;
    }
    Ok(())
}

/// Connects each NIC's hub (`hubport`, as the zygote's NIC index) to the container's tap:
/// the tap's fd goes over QMP (`getfd`), becomes a netdev, and a new port of the hub joins
/// it. No vhost-net: a tap behind a hub is served by QEMU's own loop.
fn connect_nics(qmp: &mut QmpClient, nics: &[NicSpec]) -> Result<()> {
    for (index, nic) in nics.iter().enumerate() {
        let tap = nic.tap.as_ref().context("a NIC without a tap")?;
        let name = format!("tap{index}");
        qmp.send_fd(&name, std::os::fd::AsFd::as_fd(tap.as_ref()))?;
        qmp.execute_with(
            "netdev_add",
            Some(json!({ "type": "tap", "id": format!("t{index}"), "fd": name })),
        )?;
        qmp.execute_with(
            "netdev_add",
            Some(json!({
                "type": "hubport",
                "id": format!("p{index}"),
                "hubid": index,
                "netdev": format!("t{index}"),
            })),
        )?;
    }
    Ok(())
}

/// The ids of `pool`'s entries in `state`.
fn entries(pool: &Path, state: &str) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(pool) else {
        return Vec::new();
    };
    read.flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| {
            let (id, found) = name.rsplit_once('.')?;
            (found == state).then(|| id.to_string())
        })
        .collect()
}

/// Starts fillers until `zygote`'s pool has [`size`] VMs ready or on their way; removes
/// entries whose filler or VM is gone. Best effort: failures are logged.
pub fn refill(zygote: &Zygote, spec: &VmSpec) {
    if let Err(err) = try_refill(zygote, spec) {
        tracing::warn!("cannot refill the warm pool: {err:#}");
    }
}

fn try_refill(zygote: &Zygote, spec: &VmSpec) -> Result<()> {
    let pool = pool_dir(&zygote.dir);
    std::fs::create_dir_all(&pool)?;
    let lock = std::fs::File::create(pool.join("lock"))?;
    let _lock = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", pool.display()))?;
    let recipe = Recipe {
        kernel: spec.kernel.clone(),
        initramfs: spec.initramfs.clone(),
        cmdline: spec.cmdline.clone(),
        mem_mib: spec.mem_mib,
        cpus: spec.cpus,
        nics: spec.nics.len(),
    };
    crate::container::store::write_atomic(
        &pool.join("recipe.json"),
        &serde_json::to_vec(&recipe)?,
    )?;
    let mut live = 0;
    for (state, record) in [(READY, "vmm.json"), (FILLING, "filler.json")] {
        for id in entries(&pool, state) {
            let dir = entry(&pool, &id, state);
            if read_process(&dir.join(record)).is_some_and(|p| p.is_alive()) {
                live += 1;
            } else {
                discard(&dir, &id);
            }
        }
    }
    for _ in live..size() {
        spawn_filler(&pool)?;
    }
    Ok(())
}

/// Starts `hull system warm --fill` for a new entry (this process's executable: the CLI,
/// or a front-end built on it).
fn spawn_filler(pool: &Path) -> Result<()> {
    let id = crate::container::ids::new_id()?[..16].to_string();
    let dir = entry(pool, &id, FILLING);
    std::fs::create_dir(&dir)?;
    let log = std::fs::File::create(dir.join("filler.log"))?;
    let program = std::env::current_exe().context("cannot find hull's own executable")?;
    let mut child = Command::new(program)
        .args(["system", "warm", "--fill"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start a warm-pool filler")?;
    if let Some(filler) = ProcessRef::of(child.id()) {
        crate::container::store::write_atomic(
            &dir.join("filler.json"),
            &serde_json::to_vec(&filler)?,
        )?;
    }
    // Reaped when it ends, for as long as this process lives.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Where QEMU writes the pid of a warm-pool VM whose sockets are in `socket_dir`.
pub fn pid_file(socket_dir: &Path) -> PathBuf {
    socket_dir.join("qemu.pid")
}

/// Kills what an entry holds (its filler, then its VM) and removes it.
fn discard(dir: &Path, id: &str) {
    for record in ["filler.json", "vmm.json"] {
        if let Some(process) = read_process(&dir.join(record)).filter(ProcessRef::is_alive) {
            if let Ok(adopted) = Adopted::open(process) {
                let _ = VmmProcess::Adopted(adopted).kill();
            }
        }
    }
    // A VM still rehearsing has no vmm.json yet; QEMU's own pid file names it. The pid is
    // only trusted if that process's command line is this VM's.
    let sockets = socket_dir(id);
    let pid = std::fs::read_to_string(pid_file(&sockets))
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    if let Some(pid) = pid {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&*sockets.to_string_lossy());
        if let (true, Some(process)) = (ours, ProcessRef::of(pid)) {
            if let Ok(adopted) = Adopted::open(process) {
                let _ = VmmProcess::Adopted(adopted).kill();
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(sockets);
}

/// Kills every VM (and filler) of the pool of the zygote in `zygote_dir` (it is being
/// removed).
pub fn stop_all(zygote_dir: &Path) {
    let pool = pool_dir(zygote_dir);
    for state in [FILLING, READY, CLAIMED] {
        for id in entries(&pool, state) {
            discard(&entry(&pool, &id, state), &id);
        }
    }
}

/// How many VMs of the zygote in `zygote_dir` are ready.
pub fn ready_count(zygote_dir: &Path) -> usize {
    entries(&pool_dir(zygote_dir), READY).len()
}

/// A filler's work (`hull system warm --fill ENTRY`): restores the zygote whose pool holds
/// `entry` with the stand-in container's disks, lets it rehearse and park again, records its
/// VMM and marks the entry ready. The VMM outlives this process.
pub fn fill(entry_dir: &Path) -> Result<()> {
    // SAFETY: setpriority on this process (who 0) with a plain niceness; no memory passed.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, FILLER_NICENESS) };
    let result = fill_entry(entry_dir);
    if result.is_err() {
        let id = entry_id(entry_dir).unwrap_or_default();
        discard(entry_dir, &id);
    }
    result
}

fn entry_id(entry_dir: &Path) -> Option<String> {
    let name = entry_dir.file_name()?.to_str()?;
    Some(name.rsplit_once('.')?.0.to_string())
}

fn fill_entry(entry_dir: &Path) -> Result<()> {
    let id = entry_id(entry_dir).context("not a warm-pool entry")?;
    let pool = entry_dir.parent().context("not a warm-pool entry")?;
    let zygote_dir = pool.parent().context("not a warm-pool entry")?;
    let recipe: Recipe = serde_json::from_slice(&std::fs::read(pool.join("recipe.json"))?)?;
    let engine = crate::vm::engine_for(EngineKind::Qemu, crate::guest::hardware_kvm());
    let sockets = socket_dir(&id);
    let base = VmSpec {
        kernel: recipe.kernel,
        initramfs: recipe.initramfs,
        cmdline: recipe.cmdline,
        mem_mib: recipe.mem_mib,
        cpus: recipe.cpus,
        disks: Vec::new(),
        socket_dir: sockets.clone(),
        serial_log: entry_dir.join("vm.log"),
        engine_log: entry_dir.join("engine.log"),
        // As the zygote's: on a hub of their own until a claim connects the container's tap.
        nics: cache::zygote_nics(recipe.nics),
        share: None,
        restore: None,
        zygote_memory: None,
        rehearse: true,
    };
    let shape = cache::Shape::of(engine.as_ref(), &base).context("no zygote shape")?;
    if shape.dir() != zygote_dir {
        bail!("the pool's recipe is not its zygote's");
    }
    let zygote = cache::load(zygote_dir, &shape).context("the zygote is gone")?;
    let mut disks = rehearsal::make_disks(entry_dir, pool)?;
    // Every layer slot under a layer's serial (a running VM's serials cannot change): the
    // stand-in has one layer, the rest are the spare disk, which no spec lists.
    let writable = disks.pop().context("no writable disk")?;
    disks.extend((1..zygote.layer_slots).map(|index| DiskSpec {
        path: zygote.spare_disk(),
        serial: hull_protocol::layer_disk_serial(index),
        read_only: true,
    }));
    disks.push(writable);
    let spec = VmSpec {
        disks,
        restore: Some(zygote),
        ..base
    };
    let mut vm = engine.spawn(&spec)?;
    if let Some(control) = vm.consoles.control.as_mut() {
        // As a detached container's supervisor does: no stdin.
        control.write_all(ControlMessage::StdinEof { bytes: 0 }.to_line().as_bytes())?;
    }
    for output in [Some(vm.consoles.stdio_out), vm.consoles.stderr.take()]
        .into_iter()
        .flatten()
    {
        let mut output = output;
        std::thread::spawn(move || std::io::copy(&mut output, &mut std::io::sink()));
    }
    vm.consoles.stdio_out = Box::new(std::io::empty());
    if let Err(err) = cache::wait_for_park(&mut vm, &spec, REHEARSAL_TIMEOUT) {
        let _ = vm.child.kill();
        return Err(err);
    }
    let vmm = ProcessRef::of(vm.child.id()).context("the VM ended after its rehearsal")?;
    crate::container::store::write_atomic(&entry_dir.join("vmm.json"), &serde_json::to_vec(&vmm)?)?;
    std::fs::rename(entry_dir, entry(pool, &id, READY))?;
    // The consoles close as this process ends; QEMU listens for the claimer's.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_is_off_unless_sized_and_bounded() {
        assert_eq!(parse_size(None), 0);
        assert_eq!(parse_size(Some("")), 0);
        assert_eq!(parse_size(Some("x")), 0);
        assert_eq!(parse_size(Some(" 2 ")), 2);
        assert_eq!(parse_size(Some("1000")), MAX_POOL);
    }

    #[test]
    fn entries_are_found_by_state_and_their_ids_kept() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "a1.ready",
            "b2.filling",
            "c3.ready",
            "d4.claimed",
            "lock",
            "recipe.json",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let mut ready = entries(dir.path(), READY);
        ready.sort();
        assert_eq!(ready, ["a1", "c3"]);
        assert_eq!(entries(dir.path(), FILLING), ["b2"]);
        assert!(entries(&dir.path().join("absent"), READY).is_empty());
        assert_eq!(
            entry_id(&dir.path().join("b2.filling")).as_deref(),
            Some("b2")
        );
    }

    /// A container whose disks do not fit the slots takes no VM (it would be wasted).
    #[test]
    fn a_container_that_does_not_fit_leaves_the_pool_alone() {
        let dir = tempfile::tempdir().unwrap();
        let zygote = Zygote {
            dir: dir.path().to_path_buf(),
            cmdline: String::new(),
            layer_slots: 1,
        };
        let ready = entry(&pool_dir(&zygote.dir), "e1", READY);
        std::fs::create_dir_all(&ready).unwrap();
        let mut spec = crate::vm::warm::tests::spec(dir.path());
        let layer = spec.disks[1].clone();
        spec.disks.insert(1, layer);
        assert!(claim(&zygote, &spec).is_none());
        assert!(ready.exists());
    }

    /// A claim whose entry records a VMM that has ended takes nothing and removes the entry
    /// (the caller then restores the zygote as without a pool).
    #[test]
    fn an_entry_whose_vmm_ended_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let zygote = Zygote {
            dir: dir.path().to_path_buf(),
            cmdline: String::new(),
            layer_slots: 1,
        };
        let entry = entry(&pool_dir(&zygote.dir), "e1", READY);
        std::fs::create_dir_all(&entry).unwrap();
        let mut gone = Command::new("true").spawn().unwrap();
        let record = ProcessRef {
            pid: i32::try_from(gone.id()).unwrap(),
            start_ticks: 1,
        };
        gone.wait().unwrap();
        std::fs::write(entry.join("vmm.json"), serde_json::to_vec(&record).unwrap()).unwrap();
        let spec = crate::vm::warm::tests::spec(dir.path());
        assert!(claim(&zygote, &spec).is_none());
        assert!(!entry.exists());
        assert!(entries(&pool_dir(&zygote.dir), CLAIMED).is_empty());
    }
}
