//! A short-lived helper VM on a stopped container's disks (`hull cp` on a created or exited
//! container, as Docker allows): the container's own kernel, layers and writable disk,
//! booted with the spec annotated [`MODE_HOLD`], so hull-init sets the container up (its
//! root, mounts, namespaces) without running its process and serves archive sessions on
//! its control socket, exactly as for a running container. The guest, not the host, reads
//! and writes the writable layer: the host never mounts it.
//!
//! The helper leaves the container as it was: it boots from a config disk of its own (the
//! container's last result stays on its config disk), logs and sockets of its own, and
//! never touches the container's state. [`HelperVm::finish`] signals the held process; the
//! guest then syncs the writable disk and powers off as after any exit. A helper and the
//! container's own VM, or two helpers, never share the writable disk: [`lock_disks`].

use super::attach::Attachments;
use super::control::{self, ControlChannel};
use super::exec::ExecSessions;
use super::ready::ReadyGate;
use crate::container::{Container, ContainerStore};
use crate::vm::process::VmmProcess;
use crate::vm::{log_tail, DiskSpec, Engines, VmSpec};
use anyhow::{Context, Result};
use hull_protocol::{
    ControlMessage, GuestEvent, RunSpec, ANNOTATION_MODE, CONFIG_DISK_SERIAL, CONFIG_DISK_SIZE,
    MODE_HOLD, WRITABLE_DISK_SERIAL,
};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the guest gets to sync its writable disk and power off once signalled.
const POWER_OFF_GRACE: Duration = Duration::from_secs(30);

/// A booted helper VM.
pub struct HelperVm {
    child: VmmProcess,
    channel: ControlChannel,
    /// The sockets (a short directory under /tmp) and the helper's own files.
    socket_dir: PathBuf,
    files: Vec<PathBuf>,
    /// Held for the VM's life: hvc0's write side (closing it reads as a hangup).
    _stdin: Box<dyn Write + Send>,
    /// The exclusive lock on the container's disks.
    _lock: Flock<File>,
    /// The virtiofsd of the container's volumes: `cp` into a volume's path writes the
    /// volume, as Docker's does.
    _share: Option<super::shares::Share>,
}

/// Takes the exclusive lock on the writable disk of the container whose directory is
/// `dir`, waiting for its holder: the container's supervisor holds it while its VM runs, a
/// helper while it copies, so no two VMs ever boot on one writable disk.
pub fn lock_disks(dir: &Path) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("disks.lock"))
        .context("cannot open the container's disk lock")?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock the container's disks: {e}"))
}

/// Whether some process holds the disk lock of the container whose directory is `dir` right
/// now: its supervisor from before it leases an address until its VM has ended (or a
/// helper VM). Another container's start asks this before it reclaims that container's
/// address lease as stale: a container still booting is not `Running` yet, but its lease
/// is not stale.
pub fn disks_in_use(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join("disks.lock")) else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

impl HelperVm {
    /// Boots the stopped `container`'s disks in hold mode; returns once its control socket
    /// listens (archive sessions wait there for the guest to be ready).
    pub fn boot(
        store: &ContainerStore,
        container: &Container,
        engines: &dyn Engines,
    ) -> Result<Self> {
        let paths = store.paths(&container.id);
        let lock = lock_disks(&paths.dir)?;
        let config_disk = paths.dir.join("helper-config.img");
        write_hold_config_disk(&paths.run_spec(), &config_disk)?;
        let short_id = container.id.get(..12).unwrap_or(&container.id);
        let socket_dir =
            std::env::temp_dir().join(format!("hull-helper-{short_id}-{}", std::process::id()));
        let serial_log = paths.dir.join("helper-vm.log");
        let engine_log = paths.dir.join("helper-engine.log");
        let artifacts = engines.guest(container.options.engine)?;
        let mut disks = vec![DiskSpec {
            path: config_disk.clone(),
            serial: CONFIG_DISK_SERIAL.into(),
            read_only: false,
        }];
        for (index, layer) in container.layer_paths.iter().enumerate() {
            disks.push(DiskSpec {
                path: layer.clone(),
                serial: hull_protocol::layer_disk_serial(index),
                read_only: true,
            });
        }
        disks.push(DiskSpec {
            path: paths.rw_disk(),
            serial: WRITABLE_DISK_SERIAL.into(),
            read_only: false,
        });
        std::fs::create_dir_all(&socket_dir)?;
        let share_log = paths.dir.join("helper-virtiofsd.log");
        let share = super::start_share(store, container, &socket_dir, &share_log)?;
        let spec = VmSpec {
            kernel: artifacts.kernel,
            initramfs: artifacts.initramfs,
            cmdline: artifacts.cmdline,
            mem_mib: container.options.mem_mib,
            cpus: container.options.cpus,
            disks,
            socket_dir: socket_dir.clone(),
            serial_log: serial_log.clone(),
            engine_log: engine_log.clone(),
            nics: Vec::new(),
            share: share.as_ref().map(|s| s.socket.clone()),
            restore: None,
            zygote_memory: None,
            rehearse: false,
        };
        let mut vm = engines
            .engine(container.options.engine)
            .spawn(&spec)
            .with_context(|| {
                format!(
                    "cannot boot a helper VM on the container's disks; guest log:\n{}",
                    log_tail(&serial_log, 1500)
                )
            })?;
        let channel = ControlChannel::new(vm.consoles.control.take(), vm.child.id());
        let execs = ExecSessions::new(channel.clone());
        let ready = match vm.consoles.events.take() {
            Some(events) => {
                let mut route = execs.router();
                ReadyGate::watch(events, move |event| {
                    if !matches!(event, GuestEvent::Stats { .. }) {
                        route(event);
                    }
                })
            }
            None => {
                execs.close("this engine gives the guest no control console");
                ReadyGate::open()
            }
        };
        // The held process writes nothing; whatever comes is drained, never logged.
        let mut outputs = vec![vm.consoles.stdio_out];
        outputs.extend(vm.consoles.stderr.take());
        for mut output in outputs {
            std::thread::spawn(move || std::io::copy(&mut output, &mut std::io::sink()));
        }
        if !container.options.tty {
            channel.send(&ControlMessage::StdinEof { bytes: 0 });
        }
        control::serve(
            &socket_dir.join("control.sock"),
            channel.clone(),
            Attachments::new(ready, false),
            execs,
            // Only `cp` talks to a helper: nothing asks it for processes.
            super::top::TopRequests::new(channel.clone()),
        )?;
        Ok(Self {
            child: vm.child,
            channel,
            socket_dir,
            files: vec![config_disk, serial_log, engine_log, share_log],
            _stdin: vm.consoles.stdio_in,
            _lock: lock,
            _share: share,
        })
    }

    /// The helper's control socket: archive sessions connect here.
    pub fn control_socket(&self) -> PathBuf {
        self.socket_dir.join("control.sock")
    }

    /// Ends the held process; waits for the guest to sync the writable disk and power off
    /// (the VMM is killed if it does not within [`POWER_OFF_GRACE`]: a copy into the
    /// container may then be lost, which is said).
    pub fn finish(mut self) -> Result<()> {
        self.channel.send(&ControlMessage::Signal {
            signal: libc::SIGKILL,
        });
        let deadline = Instant::now() + POWER_OFF_GRACE;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!(
            "the helper VM did not power off within {} s: what was copied into the container may be lost",
            POWER_OFF_GRACE.as_secs()
        )
    }
}

impl Drop for HelperVm {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.socket_dir);
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// A config disk for a helper boot: the container's spec annotated [`MODE_HOLD`].
fn write_hold_config_disk(run_spec: &Path, disk: &Path) -> Result<()> {
    let text =
        std::fs::read(run_spec).with_context(|| format!("cannot read {}", run_spec.display()))?;
    let mut spec: RunSpec = serde_json::from_slice(&text)
        .with_context(|| format!("{} is corrupt", run_spec.display()))?;
    let mut annotations = spec.config.annotations().clone().unwrap_or_default();
    annotations.insert(ANNOTATION_MODE.into(), MODE_HOLD.into());
    spec.config.set_annotations(Some(annotations));
    let _ = std::fs::remove_file(disk);
    let mut file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(disk)
        .with_context(|| format!("cannot create {}", disk.display()))?;
    file.set_len(CONFIG_DISK_SIZE)?;
    spec.write_to(&mut file)?;
    file.sync_all()?;
    Ok(())
}
