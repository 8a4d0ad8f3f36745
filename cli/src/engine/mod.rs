//! VM engines behind one trait: a [`VmSpec`] in, a running VMM process and the container's
//! console streams out. The guest (kernel, hull-init, disks) is the same on every engine.

pub mod hullvmm;
pub mod qemu;

use crate::host::EngineKind;
use anyhow::Result;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Child;

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
}

/// The container's streams on the host side of the virtio consoles.
pub struct Consoles {
    /// Host -> guest `hvc0` (the container's stdin or tty input).
    pub stdio_in: Box<dyn Write + Send>,
    /// Guest `hvc0` -> host (stdout, or the tty's output).
    pub stdio_out: Box<dyn Read + Send>,
    /// Guest `hvc1` -> host (stderr without a tty); None on single-port engines, where the
    /// guest merges stderr into hvc0.
    pub stderr: Option<Box<dyn Read + Send>>,
    /// Host -> guest `hvc2` control messages; None on engines without a control port.
    pub control: Option<Box<dyn Write + Send>>,
    /// Guest -> host `hvc2` events (`GuestEvent` lines); None on engines without a control
    /// port.
    pub events: Option<Box<dyn Read + Send>>,
}

/// A booted VM.
pub struct RunningVm {
    /// The VMM process (in its own process group, so a terminal's Ctrl-C does not reach it).
    pub child: Child,
    /// Its consoles.
    pub consoles: Consoles,
}

/// A way to run a VM.
pub trait Engine {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;
    /// Starts the VM; returns once its consoles are connected (so no output is lost).
    fn spawn(&self, spec: &VmSpec) -> Result<RunningVm>;
}

/// The engine for `kind`.
pub fn engine_for(kind: EngineKind, accel_kvm: bool) -> Box<dyn Engine> {
    match kind {
        EngineKind::Qemu => Box::new(qemu::Qemu { accel_kvm }),
        EngineKind::Hull => Box::new(hullvmm::HullVmm {
            emulated_kvm: !accel_kvm,
        }),
    }
}

/// The last `max` bytes of a log file, for error messages.
pub fn log_tail(path: &std::path::Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).trim().to_string()
}
