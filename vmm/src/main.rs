//! `hull-vmm`: boot a kernel in a KVM VM. Thin: parse flags into a `VmConfig`, run it,
//! map the result to an exit status.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hull_vmm::config::CpuVendorPolicy;
use hull_vmm::config::{FsConfig, NetConfig};
use hull_vmm::{ConsoleKind, DiskConfig, SerialOutput, VirtioConsoleConfig, VmConfig};

/// Boot a Linux kernel (ELF vmlinux, PVH or not, or bzImage) in a KVM virtual machine.
/// Exits 0 when the guest resets or powers off, 1 with a one-line cause otherwise.
#[derive(Debug, Parser)]
#[command(name = "hull-vmm", version)]
struct Args {
    /// Kernel image.
    #[arg(long, required_unless_present_any = ["config", "restore"])]
    kernel: Option<PathBuf>,
    /// Take the whole VM from this JSON `VmConfig` instead of flags (how `hull` can drive
    /// hull-vmm as a child process); only --log-level may be combined with it.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["kernel", "initrd", "cmdline", "disks", "virtio_consoles", "serial_out", "nets"])]
    config: Option<PathBuf>,
    /// Initial ramdisk.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Kernel command line [default: "console=ttyS0 reboot=k panic=1 pci=off"].
    #[arg(long)]
    cmdline: Option<String>,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = hull_vmm::config::DEFAULT_MEM_MIB)]
    mem_mib: u32,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1)]
    cpus: u8,
    /// virtio-blk disk: PATH[:ro][,serial=NAME]; repeat for more disks.
    #[arg(long = "disk", value_name = "PATH[:ro][,serial=NAME]")]
    disks: Vec<DiskConfig>,
    /// Guest console device: serial (COM1 on stdin/stdout) or virtio (hvc0 on stdin/stdout,
    /// COM1 then on stderr).
    #[arg(long, value_enum, default_value_t = ConsoleKind::Serial)]
    console: ConsoleKind,
    /// A virtio-console on a unix socket hull-vmm creates; the guest starts once a peer
    /// has connected to every such socket (QEMU's server=on,wait=on). Repeat for more
    /// consoles: the guest names them hvcN in order, after --console virtio's hvc0.
    #[arg(long = "virtio-console", value_name = "socket=PATH")]
    virtio_consoles: Vec<VirtioConsoleConfig>,
    /// Write COM1 output to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    serial_out: Option<PathBuf>,
    /// CPU vendor the guest sees: auto (intel on emulation-only KVM, whose x87 emulation
    /// breaks Linux's AMD FXSAVE_LEAK path; the host's otherwise), host, intel or amd.
    #[arg(long, default_value = "auto")]
    cpu_vendor: CpuVendorPolicy,
    /// A virtio-balloon with free page reporting (memory the guest frees goes back).
    #[arg(long)]
    balloon: bool,
    /// Serve a QMP subset on this unix socket (`qmp_capabilities`, `stop`, `cont`,
    /// `query-status`): pause and resume the vCPUs.
    #[arg(long, value_name = "PATH")]
    control_socket: Option<PathBuf>,
    /// virtio-net NIC on a tap: tap=NAME (opened in hull-vmm's network namespace) or fd=N
    /// (an inherited tap fd with vnet_hdr), or none (no backend: frames go nowhere),
    /// optional mac=XX:XX:XX:XX:XX:XX (random otherwise); repeat for more NICs (eth0,
    /// eth1, ... in order).
    #[arg(long = "net", value_name = "tap=NAME|fd=N|none[,mac=MAC]")]
    nets: Vec<NetConfig>,
    /// virtio-fs device served by a vhost-user backend (virtiofsd --socket-path=PATH):
    /// socket=PATH,tag=TAG; the guest mounts it with `mount -t virtiofs TAG DIR`.
    #[arg(long = "fs", value_name = "socket=PATH,tag=TAG")]
    fs: Vec<FsConfig>,
    /// Restore the snapshot in DIR (written by the control socket's `x-hull-snapshot`)
    /// instead of booting a kernel; the VM's backends come from --config or the flags, which
    /// must describe the snapshot's memory size, vCPU count and devices. Overrides the
    /// config's `restore` field.
    #[arg(long, value_name = "DIR")]
    restore: Option<PathBuf>,
    /// Log level on stderr: error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
}

fn main() -> ExitCode {
    let start = Instant::now();
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(args.log_level)
        .with_target(false)
        .init();
    let config = match vm_config(args) {
        Ok(config) => config,
        Err(e) => {
            report_error(&e);
            return ExitCode::FAILURE;
        }
    };
    let result = hull_vmm::builder::build_vm(&config, start)
        .map_err(hull_vmm::VmmError::from)
        .and_then(|mut vmm| {
            let outcome = vmm.run().map_err(hull_vmm::VmmError::from);
            // Exit with the VM still open, its teardown handed to a helper process:
            // destroying a KVM VM takes ~15 ms here, time nobody needs to wait for.
            if std::env::var_os("HULL_VMM_SYNC_TEARDOWN").is_none() {
                hull_vmm::teardown::detach();
            }
            std::mem::forget(vmm);
            outcome
        });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            report_error(&hull_vmm::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Prints the one-line error. Never panics, unlike `eprintln!`: stderr may be a terminal
/// somebody else left non-blocking (EAGAIN) or a closed pipe, and the exit status still
/// tells the caller what happened.
fn report_error(e: &dyn std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "hull-vmm: error: {e}");
}

/// The VM from `--config` or from the flags.
fn vm_config(args: Args) -> Result<VmConfig, String> {
    if let Some(path) = args.config {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read --config {}: {e}", path.display()))?;
        let mut config: VmConfig = serde_json::from_str(&text)
            .map_err(|e| format!("bad VmConfig JSON in {}: {e}", path.display()))?;
        if args.restore.is_some() {
            config.restore = args.restore;
        }
        return Ok(config);
    }
    Ok(VmConfig {
        kernel: args.kernel.unwrap_or_default(),
        initrd: args.initrd,
        cmdline: args.cmdline,
        mem_mib: args.mem_mib,
        cpus: args.cpus,
        disks: args.disks,
        console: args.console,
        virtio_consoles: args.virtio_consoles,
        serial: args
            .serial_out
            .map_or(SerialOutput::Stdout, SerialOutput::File),
        cpu_vendor: args.cpu_vendor,
        balloon: args.balloon,
        control_socket: args.control_socket,
        nets: args.nets,
        fs: args.fs,
        restore: args.restore,
    })
}
