//! VM engines behind one trait: a [`VmSpec`] in, a running VMM process and the container's
//! console streams out. The guest (kernel, hull-init, disks, the three console ports) is
//! the same on every engine: each engine listens on one unix socket per console port and
//! holds the guest until hull has connected to all of them ([`connect_consoles`]).

pub mod hullvmm;
pub mod process;
pub mod qemu;
mod qemu_memory;
pub mod qmp;
pub mod warm;

use crate::guest::GuestArtifacts;
use crate::host::EngineKind;
use anyhow::{bail, Result};
use command_fds::{CommandFdExt, FdMapping};
use hull_protocol::{CONSOLE_CONTROL, CONSOLE_STDERR, CONSOLE_STDIO};
use std::io::{Read, Write};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One virtio-blk disk.
#[derive(Debug, Clone)]
pub struct DiskSpec {
    /// The raw image file.
    pub path: PathBuf,
    /// The virtio-blk serial the guest finds it by.
    pub serial: String,
    /// Attach read-only.
    pub read_only: bool,
}

/// One virtio-net NIC on a tap the supervisor opened in the network's namespace
/// (`IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, not persistent: the tap goes when the VMM does).
#[derive(Debug, Clone)]
pub struct NicSpec {
    /// The tap's fd, handed to the VMM as [`nic_child_fd`]; None: a NIC with no backend
    /// (a warm-start zygote's, whose packets go nowhere).
    pub tap: Option<Arc<OwnedFd>>,
    /// The guest's MAC (`02:42:ac:11:00:02`).
    pub mac: String,
}

/// The fd number NIC `index` has in the VMM process.
pub fn nic_child_fd(index: usize) -> RawFd {
    // Above stdio; the VMM's own fds are opened after exec and take the lowest free ones.
    RawFd::try_from(3 + index).unwrap_or(RawFd::MAX)
}

/// Hands each NIC's tap fd to `command` at [`nic_child_fd`] of its index.
pub fn pass_nic_fds(command: &mut Command, nics: &[NicSpec]) -> Result<()> {
    pass_fds(command, nic_fd_mappings(nics)?)
}

/// Hands `mappings` to `command`'s child (all at once: they are checked against each other).
pub fn pass_fds(command: &mut Command, mappings: Vec<FdMapping>) -> Result<()> {
    command
        .fd_mappings(mappings)
        .map_err(|_| anyhow::anyhow!("fds passed to the VMM collide"))?;
    Ok(())
}

/// Each NIC's tap fd at [`nic_child_fd`] of its index.
pub fn nic_fd_mappings(nics: &[NicSpec]) -> Result<Vec<FdMapping>> {
    nics.iter()
        .enumerate()
        .filter_map(|(index, nic)| Some((index, nic.tap.as_ref()?)))
        .map(|(index, tap)| {
            Ok(FdMapping {
                parent_fd: tap.try_clone()?,
                child_fd: nic_child_fd(index),
            })
        })
        .collect()
}

/// Everything an engine needs to boot one container's VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Uncompressed kernel (vmlinux).
    pub kernel: PathBuf,
    /// The hull-init initramfs (cpio).
    pub initramfs: PathBuf,
    /// Kernel command line.
    pub cmdline: String,
    /// Guest memory in MiB.
    pub mem_mib: u64,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Disks in attach order.
    pub disks: Vec<DiskSpec>,
    /// Where the engine may create its console sockets (short path: unix socket paths are
    /// limited to 108 bytes).
    pub socket_dir: PathBuf,
    /// Where COM1 (kernel log, hull-init diagnostics) goes.
    pub serial_log: PathBuf,
    /// Where the VMM's own stderr goes.
    pub engine_log: PathBuf,
    /// virtio-net NICs (none: the guest has only `lo`).
    pub nics: Vec<NicSpec>,
    /// The vhost-user socket of the container's virtio-fs share (volumes and bind
    /// mounts), served by virtiofsd; the guest's RAM must then be shareable with it.
    pub share: Option<PathBuf>,
    /// Restore this saved VM (a warm-start zygote, [`warm`]) instead of booting the kernel:
    /// the disks, NICs and consoles above fill its slots.
    pub restore: Option<warm::Zygote>,
    /// Booting a zygote: its guest RAM is this file, mapped shared, so that once the VM is
    /// saved the file is its memory and every restore maps it copy-on-write (QEMU; hull-vmm
    /// writes its memory file when it saves).
    pub zygote_memory: Option<PathBuf>,
    /// Restoring a warm-pool VM ([`warm::pool`]): its guest rehearses the container on
    /// the disks above, then parks again until a container is handed to it.
    pub rehearse: bool,
}

/// The container's streams on the host side of the virtio consoles.
pub struct Consoles {
    /// Host -> guest `hvc0` (the container's stdin or tty input).
    pub stdio_in: Box<dyn Write + Send>,
    /// Guest `hvc0` -> host (stdout, or the tty's output).
    pub stdio_out: Box<dyn Read + Send>,
    /// Guest `hvc1` -> host (stderr without a tty); None would mean a single-port engine,
    /// where the guest merges stderr into hvc0 (both engines offer hvc1).
    pub stderr: Option<Box<dyn Read + Send>>,
    /// Host -> guest `hvc2` control messages; None would mean an engine without a control
    /// port, where signals can only kill the VMM (both engines offer hvc2).
    pub control: Option<Box<dyn Write + Send>>,
    /// Guest -> host `hvc2` events (`GuestEvent` lines); None without a control port.
    pub events: Option<Box<dyn Read + Send>>,
}

/// A booted VM.
pub struct RunningVm {
    /// The VMM process (in its own process group, so a terminal's Ctrl-C does not reach it).
    pub child: process::VmmProcess,
    /// Its consoles.
    pub consoles: Consoles,
}

/// A way to run a VM.
pub trait Engine {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;
    /// Starts the VM (or restores `spec.restore`); returns once its consoles are connected
    /// (so no output is lost).
    fn spawn(&self, spec: &VmSpec) -> Result<RunningVm>;
    /// Whether this engine can save and restore VMs ([`warm`]).
    fn warm_start(&self) -> bool {
        false
    }
    /// Saves `vm`, a zygote whose guest has parked, as `state` and stops it.
    fn save(&self, vm: &mut RunningVm, socket_dir: &Path, state: &Path) -> Result<()> {
        let _ = (vm, socket_dir, state);
        bail!("the {:?} engine cannot save a VM", self.kind())
    }
    /// Identifies this engine's build (a new one cannot load an old one's saved VMs).
    fn build_id(&self) -> String {
        String::new()
    }
    /// How long a zygote's guest may take to boot and park before hull gives up on it (and
    /// boots the container cold).
    fn park_timeout(&self) -> Duration {
        Duration::from_secs(90)
    }
}

/// Where a supervisor gets what it boots: the guest (kernel, initramfs, command line) and
/// the engine for a container's [`EngineKind`]. [`HostEngines`] are the real ones; tests
/// give a fake.
pub trait Engines: Send + Sync {
    /// Everything the guest of an engine of `kind` boots (built on first use).
    fn guest(&self, kind: EngineKind) -> Result<GuestArtifacts>;
    /// The engine of `kind`.
    fn engine(&self, kind: EngineKind) -> Box<dyn Engine>;
}

/// This host's engines: QEMU and hull-vmm, with the guest kernel and hull-init.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostEngines;

impl Engines for HostEngines {
    fn guest(&self, kind: EngineKind) -> Result<GuestArtifacts> {
        crate::guest::artifacts(kind)
    }

    fn engine(&self, kind: EngineKind) -> Box<dyn Engine> {
        engine_for(kind, crate::guest::hardware_kvm())
    }
}

/// The engine for `kind`.
pub fn engine_for(kind: EngineKind, accel_kvm: bool) -> Box<dyn Engine> {
    match kind {
        EngineKind::Qemu => Box::new(qemu::Qemu {
            accel_kvm,
            vhost_net: Path::new("/dev/vhost-net").exists(),
        }),
        EngineKind::Hull => Box::new(hullvmm::HullVmm {
            emulated_kvm: !accel_kvm,
        }),
    }
}

/// The console ports in guest order (hvc0, hvc1, hvc2): each engine attaches them so.
pub const CONSOLE_PORTS: [&str; 3] = [CONSOLE_STDIO, CONSOLE_STDERR, CONSOLE_CONTROL];

/// How many read-only layer disks a VM of `kind` with `nics` NICs (and a virtio-fs share
/// when `share`) has room for: its virtio-mmio transports less its fixed devices, the
/// config and writable disks, the share and the NICs (one at least: a network may be
/// connected later). An image with more layers boots with its top ones squashed into one
/// disk.
pub fn max_layer_disks(kind: crate::host::EngineKind, nics: usize, share: bool) -> usize {
    let (transports, fixed): (usize, usize) = match kind {
        // microvm without ACPI: 8 transports; the balloon and the virtio-serial device.
        crate::host::EngineKind::Qemu => (8, 2),
        // hull-vmm: IOAPIC pins 5-23; three socket consoles, hvc0 and the balloon.
        crate::host::EngineKind::Hull => (19, 5),
    };
    transports
        .saturating_sub(fixed + 2 + usize::from(share) + nics.max(1))
        .max(1)
}

/// How long an engine may take to create its console sockets before we give up.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the engine listens for console `port` (e.g. `hvc1`) of a VM.
pub fn console_socket(socket_dir: &Path, port: &str) -> PathBuf {
    socket_dir.join(format!("{port}.sock"))
}

/// Removes console sockets a previous boot may have left in `socket_dir` (so we never
/// connect to a dead VM's path), creating the directory if needed.
pub fn prepare_socket_dir(socket_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(socket_dir)?;
    for port in CONSOLE_PORTS {
        let _ = std::fs::remove_file(console_socket(socket_dir, port));
    }
    let _ = std::fs::remove_file(qmp::qmp_socket(socket_dir));
    Ok(())
}

/// Connects to the engine's three console sockets in `socket_dir` as soon as `child`
/// (named `engine` in errors) creates them; the engine starts the guest only once all
/// three are connected, so not a byte of output is lost. On failure `child` is killed.
pub fn connect_consoles(
    child: &mut Child,
    socket_dir: &Path,
    engine_log: &Path,
    engine: &str,
) -> Result<Consoles> {
    consoles_of(connect_console_streams(
        child, socket_dir, engine_log, engine, false,
    )?)
}

/// [`connect_consoles`], as the three streams in [`CONSOLE_PORTS`] order. With
/// `keep_paths` the sockets' paths stay (a warm-pool VM's consoles are connected again by
/// the container that claims it).
pub fn connect_console_streams(
    child: &mut Child,
    socket_dir: &Path,
    engine_log: &Path,
    engine: &str,
    keep_paths: bool,
) -> Result<[UnixStream; 3]> {
    let mut streams = Vec::with_capacity(CONSOLE_PORTS.len());
    for port in CONSOLE_PORTS {
        let path = console_socket(socket_dir, port);
        match connect(child, &path, engine_log, engine) {
            Ok(stream) => streams.push(stream),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err);
            }
        }
    }
    // Connected: the paths are no longer needed.
    for port in CONSOLE_PORTS.iter().filter(|_| !keep_paths) {
        let _ = std::fs::remove_file(console_socket(socket_dir, port));
    }
    streams
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected three console sockets"))
}

/// The consoles on the three streams of [`connect_console_streams`].
pub fn consoles_of([stdio, stderr, control]: [UnixStream; 3]) -> Result<Consoles> {
    Ok(Consoles {
        stdio_in: Box::new(stdio.try_clone()?),
        stdio_out: Box::new(stdio),
        stderr: Some(Box::new(stderr)),
        control: Some(Box::new(control.try_clone()?)),
        events: Some(Box::new(control)),
    })
}

/// Connects to one console socket as soon as the engine has created it.
fn connect(child: &mut Child, path: &Path, engine_log: &Path, engine: &str) -> Result<UnixStream> {
    let deadline = Instant::now() + SOCKET_TIMEOUT;
    loop {
        if let Ok(stream) = UnixStream::connect(path) {
            return Ok(stream);
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{engine} exited ({status}) before the VM started: {}",
                log_tail(engine_log, 2000)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{engine} did not create {} within {SOCKET_TIMEOUT:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The last `max` bytes of a log file, for error messages.
pub fn log_tail(path: &std::path::Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::process::Command;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hull-engine-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn consoles_map_to_the_ports_in_guest_order() {
        let dir = temp_dir("order");
        let listeners: Vec<UnixListener> = CONSOLE_PORTS
            .iter()
            .map(|port| UnixListener::bind(console_socket(&dir, port)).unwrap())
            .collect();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let mut consoles =
            connect_consoles(&mut child, &dir, &dir.join("engine.log"), "test-engine").unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let mut ends: Vec<UnixStream> = listeners.iter().map(|l| l.accept().unwrap().0).collect();
        for port in CONSOLE_PORTS {
            assert!(!console_socket(&dir, port).exists(), "{port} path removed");
        }
        // hvc0 both ways, hvc1 guest -> host, hvc2 both ways.
        consoles.stdio_in.write_all(b"in0").unwrap();
        let mut got = [0u8; 3];
        ends[0].read_exact(&mut got).unwrap();
        assert_eq!(&got, b"in0");
        for (index, text) in [(0, b"out0"), (1, b"err1"), (2, b"evt2")] {
            ends[index].write_all(text).unwrap();
        }
        let mut got = [0u8; 4];
        consoles.stdio_out.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"out0");
        consoles
            .stderr
            .as_mut()
            .unwrap()
            .read_exact(&mut got)
            .unwrap();
        assert_eq!(&got, b"err1");
        consoles
            .events
            .as_mut()
            .unwrap()
            .read_exact(&mut got)
            .unwrap();
        assert_eq!(&got, b"evt2");
        consoles
            .control
            .as_mut()
            .unwrap()
            .write_all(b"ctl2")
            .unwrap();
        ends[2].read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ctl2");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_engine_that_exits_before_listening_is_reported_with_its_log() {
        let dir = temp_dir("exits");
        let log = dir.join("engine.log");
        std::fs::write(&log, "engine: error: no kernel").unwrap();
        let mut child = Command::new("true").spawn().unwrap();
        let err = connect_consoles(&mut child, &dir, &log, "test-engine")
            .err()
            .expect("no sockets, engine gone");
        let text = format!("{err:#}");
        assert!(text.starts_with("test-engine exited"), "{text}");
        assert!(text.contains("engine: error: no kernel"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
