//! `hull-vmm`: boot a kernel in a KVM VM. Thin: parse flags into a `VmConfig`, run it,
//! map the result to an exit status.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hull_vmm::{ConsoleKind, DiskConfig, SerialOutput, VmConfig};

/// Boot a Linux kernel (ELF vmlinux, PVH or not, or bzImage) in a KVM virtual machine.
/// Exits 0 when the guest resets or powers off, 1 with a one-line cause otherwise.
#[derive(Debug, Parser)]
#[command(name = "hull-vmm", version)]
struct Args {
    /// Kernel image.
    #[arg(long)]
    kernel: PathBuf,
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
    /// Guest console device.
    #[arg(long, value_enum, default_value_t = ConsoleKind::Serial)]
    console: ConsoleKind,
    /// Write COM1 output to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    serial_out: Option<PathBuf>,
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
    let config = VmConfig {
        kernel: args.kernel,
        initrd: args.initrd,
        cmdline: args.cmdline,
        mem_mib: args.mem_mib,
        cpus: args.cpus,
        disks: args.disks,
        console: args.console,
        serial: args
            .serial_out
            .map_or(SerialOutput::Stdout, SerialOutput::File),
        cpu_vendor: None,
    };
    match hull_vmm::run_from(&config, start) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hull-vmm: error: {}", hull_vmm::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
