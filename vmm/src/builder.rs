//! The boot recipe, in order: KVM, memory, irqchip, kernel, devices, boot structures,
//! vCPUs. Each step is a small function; device logic lives in the devices.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use event_manager::{EventManager, SubscriberOps};
use linux_loader::cmdline::Cmdline;
use vm_memory::GuestAddress;
use vmm_sys_util::eventfd::EventFd;

use crate::arch::x86_64::boot_params::{
    e820_map, linux_boot_params, write_linux_boot_params, write_pvh_start_info, BootInputs,
};
use crate::arch::x86_64::cpuid::{filter_cpuid, GuestCpu};
use crate::arch::x86_64::kernel::{
    load_initrd, load_kernel, KernelEntry, KernelError, LoadedKernel,
};
use crate::arch::x86_64::layout::{
    BOOT_TIMER_PORT, CMDLINE_MAX_SIZE, CMDLINE_START, COM1_GSI, COM1_PORT, I8042_DATA_PORT,
};
use crate::arch::x86_64::mptable::{setup_mptable, MptableError};
use crate::arch::x86_64::regs::{
    boot_fpu, boot_msrs, boot_regs, set_lint_pins, setup_boot_sregs, BootEntry,
};
use crate::config::{
    emulation_only_kvm, ConfigError, ConsoleKind, DiskConfig, FsConfig, MacAddr, NetConfig,
    SerialOutput, VirtioConsoleConfig, VmConfig,
};
use crate::device_manager::{MmioDeviceManager, MmioError, MmioSlot, PioDeviceManager, PioError};
use crate::devices::legacy::boot_timer::BootTimer;
use crate::devices::legacy::i8042::{I8042, I8042_PORT_COUNT};
use crate::devices::legacy::serial::{SerialDevice, SERIAL_PORT_COUNT};
use crate::devices::legacy::EventFdTrigger;
use crate::devices::virtio::balloon::{Balloon, BalloonError};
use crate::devices::virtio::block::{Block, BlockArgs, BlockError};
use crate::devices::virtio::console::{Console, ConsoleArgs, ConsoleError, ConsoleListener};
use crate::devices::virtio::fs::{FsArgs, FsError, VhostUserFs};
use crate::devices::virtio::net::{
    owned_fd, HostNic, Net, NetArgs, NetError, NullNic, Tap, TapError,
};
use crate::devices::virtio::{MmioTransport, VirtioDevice};
use crate::memory::{create_guest_memory, ram_ranges, GuestMemory, MemoryError};
use crate::runtime::event_loop::SerialInput;
use crate::runtime::exit::{ExitSignal, ResetTrigger};
use crate::runtime::pause::PauseGate;
use crate::runtime::snapshot_control::{LoopParker, SnapshotControl};
use crate::runtime::vcpu_runner::VcpuRunner;
use crate::runtime::winch::{tty_size, WinchWatcher};
use crate::runtime::{Subscriber, Vmm};
use crate::snapshot::{DeviceLayout, Restore, SharedTransport, SnapshotError, VmSnapshotter};
use crate::vstate::{Kvm, KvmError, VcpuError, Vm, VmError};

/// Errors building a VM.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A disk could not be attached.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The virtio console could not be attached.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    /// A tap could not be opened.
    #[error(transparent)]
    Tap(#[from] TapError),
    /// A network device could not be created.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A virtio-fs device could not be connected to its backend.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A virtio device could not be wired to KVM or the bus.
    #[error(transparent)]
    Mmio(#[from] MmioError),
    /// KVM is unusable.
    #[error(transparent)]
    Kvm(#[from] KvmError),
    /// VM setup failed.
    #[error(transparent)]
    Vm(#[from] VmError),
    /// The snapshot to restore is unusable, or restoring it failed.
    #[error("cannot restore the snapshot")]
    Restore(#[from] SnapshotError),
    /// Guest memory could not be created.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// Kernel or initrd loading failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The MP table could not be written.
    #[error(transparent)]
    Mptable(#[from] MptableError),
    /// Writing boot structures into guest memory failed.
    #[error("cannot write the {what} into guest memory: raise --mem-mib")]
    BootData {
        /// Which structure.
        what: &'static str,
        /// The failure.
        #[source]
        source: vm_memory::GuestMemoryError,
    },
    /// The command line could not be built.
    #[error("invalid kernel command line ({0}): check --cmdline")]
    Cmdline(linux_loader::cmdline::Error),
    /// The command line could not be written.
    #[error("cannot write the kernel command line into guest memory ({0})")]
    CmdlineLoad(linux_loader::loader::Error),
    /// vCPU setup failed.
    #[error("cannot set up vCPU {id}")]
    Vcpu {
        /// The vCPU.
        id: u8,
        /// The failure.
        #[source]
        source: VcpuError,
    },
    /// Building the boot MSR list failed.
    #[error("cannot build the boot MSR list ({0:?})")]
    Msrs(vmm_sys_util::fam::Error),
    /// A device could not be placed on the port bus.
    #[error(transparent)]
    Pio(#[from] PioError),
    /// The serial output file could not be opened.
    #[error("cannot open serial output file {path}: check the directory exists and is writable")]
    SerialFile {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// An eventfd/epoll resource could not be created (out of file descriptors?).
    #[error("cannot create {what} (process out of file descriptors?)")]
    Resource {
        /// Which resource.
        what: &'static str,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Builds the VM described by `config`; `start` is when the VMM started (the boot timer
/// counts from it). Nothing runs until `Vmm::run`.
pub fn build_vm(config: &VmConfig, start: Instant) -> Result<Vmm, BuildError> {
    config.validate()?;
    // A snapshot that does not fit the config is refused before anything is opened.
    let restore = match &config.restore {
        Some(dir) => Some(Restore::load(dir, config)?),
        None => None,
    };
    // Listening from the start: the peer connects while the VM is being built.
    let console_sockets = listen_on_console_sockets(&config.virtio_consoles)?;
    // Taps first: a bad tap name or fd fails before any VM exists.
    let taps = open_taps(&config.nets)?;
    let kvm = Kvm::open()?;
    let vm = Arc::new(kvm.create_vm()?);
    let mem_size = u64::from(config.mem_mib) << 20;
    // A vhost-user backend maps guest RAM itself: it must be a shareable memfd then.
    let shared_memory = !config.fs.is_empty();
    let memory = Arc::new(match &restore {
        Some(restore) => restore.map_memory()?,
        None => create_guest_memory(mem_size, shared_memory)?,
    });
    vm.register_memory(&memory)?;
    vm.setup_irqchip()?;
    // A restored guest is past its boot: no kernel, no boot structures.
    let kernel = match &restore {
        Some(_) => None,
        None => {
            let kernel = load_kernel(&memory, &config.kernel)?;
            let initrd = match &config.initrd {
                Some(path) => Some(load_initrd(&memory, path, &kernel, mem_size)?),
                None => None,
            };
            Some((kernel, initrd))
        }
    };
    let exit = Arc::new(ExitSignal::new().map_err(resource("the exit eventfd"))?);
    // Bound before the consoles wait for hull: it may ask for a pause as soon as the VM runs.
    let control = match &config.control_socket {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            Some(
                std::os::unix::net::UnixListener::bind(path)
                    .map_err(resource("the control socket"))?,
            )
        }
        None => None,
    };
    let pause = Arc::new(PauseGate::new());
    let mut event_manager =
        EventManager::<Subscriber>::new().map_err(|e| BuildError::Resource {
            what: "the event loop",
            source: std::io::Error::other(format!("{e:?}")),
        })?;
    let legacy = attach_legacy_devices(&vm, config, &exit, start, restore.as_ref())?;
    if config.serial == SerialOutput::Stdout && config.console == ConsoleKind::Serial {
        attach_serial_input(&mut event_manager, &legacy.serial);
    }
    let mut cmdline = Cmdline::new(CMDLINE_MAX_SIZE).map_err(BuildError::Cmdline)?;
    cmdline
        .insert_str(config.base_cmdline())
        .map_err(BuildError::Cmdline)?;
    let mut mmio = MmioDeviceManager::default();
    let mut virtio = VirtioEnv {
        vm: &vm,
        memory: &memory,
        cmdline: &mut cmdline,
        mmio: &mut mmio,
        event_manager: &mut event_manager,
        transports: Vec::new(),
    };
    attach_block_devices(&mut virtio, &config.disks)?;
    if config.console == ConsoleKind::Virtio {
        attach_virtio_console(&mut virtio)?;
    }
    attach_socket_consoles(&mut virtio, console_sockets)?;
    attach_net_devices(&mut virtio, taps)?;
    attach_fs_devices(&mut virtio, &config.fs)?;
    if config.balloon {
        let (balloon, events) = Balloon::new(shared_memory)
            .map_err(|BalloonError::EventFd(e)| resource("a balloon eventfd")(e))?;
        let slot = virtio.attach(balloon, Arc::new(Mutex::new(events)))?;
        tracing::debug!("virtio-balloon (free page reporting) at {slot:?}");
    }
    let transports = std::mem::take(&mut virtio.transports);
    let start_at = match (&kernel, &restore) {
        (Some((kernel, initrd)), _) => VcpuStart::Boot(configure_system(
            &memory,
            kernel,
            &cmdline,
            *initrd,
            config.cpus,
            mem_size,
        )?),
        (None, Some(restore)) => {
            restore.restore_devices(&transports)?;
            VcpuStart::Restore(restore)
        }
        (None, None) => unreachable!("a kernel is loaded unless restoring"),
    };
    let vcpus: Vec<VcpuRunner> = create_vcpus(
        &kvm,
        &vm,
        &memory,
        config,
        start_at,
        &legacy.pio,
        &mmio,
        &exit,
    )?
    .into_iter()
    .map(|runner| VcpuRunner {
        pause: pause.clone(),
        ..runner
    })
    .collect();
    if let Some(restore) = &restore {
        restore.restore_vm(&vm)?;
    }
    let (parker, event_loop) = LoopParker::new(exit.clone()).map_err(resource("an eventfd"))?;
    event_manager.add_subscriber(Arc::new(Mutex::new(parker)));
    let snapshot = Arc::new(SnapshotControl {
        snapshotter: VmSnapshotter {
            layout: DeviceLayout::of(config),
            vm: vm.clone(),
            memory: memory.clone(),
            vcpus: vcpus.iter().map(|runner| runner.vcpu.clone()).collect(),
            msr_indices: kvm.msr_index_list()?,
            serial: legacy.serial.clone(),
            transports,
        },
        event_loop,
        busy: Default::default(),
    });
    Ok(Vmm {
        _vm: vm,
        _memory: memory,
        vcpus,
        event_manager,
        exit,
        serial: legacy.serial,
        boot_reached_ms: legacy.boot_reached_ms,
        pause,
        control,
        snapshot,
    })
}

/// How the vCPUs start: at the kernel's entry, or where a snapshot left them.
#[derive(Clone, Copy)]
enum VcpuStart<'a> {
    Boot(BootEntry),
    Restore(&'a Restore),
}

fn resource(what: &'static str) -> impl Fn(std::io::Error) -> BuildError {
    move |source| BuildError::Resource { what, source }
}

struct LegacyDevices {
    pio: PioDeviceManager,
    serial: Arc<Mutex<SerialDevice>>,
    boot_reached_ms: Arc<AtomicU64>,
}

/// COM1 (irqfd on GSI 4), the i8042 (reset stops the VM), the boot-timer port.
fn attach_legacy_devices(
    vm: &Vm,
    config: &VmConfig,
    exit: &Arc<ExitSignal>,
    start: Instant,
    restore: Option<&Restore>,
) -> Result<LegacyDevices, BuildError> {
    let mut pio = PioDeviceManager::default();
    let serial_irq = EventFd::new(libc::EFD_NONBLOCK).map_err(resource("the COM1 eventfd"))?;
    vm.register_irqfd(&serial_irq, COM1_GSI)?;
    let trigger = EventFdTrigger::new(serial_irq);
    let out = serial_writer(&config.serial, config.console)?;
    let serial = Arc::new(Mutex::new(match restore {
        Some(restore) => restore.serial(trigger, out)?,
        None => SerialDevice::new(trigger, out),
    }));
    pio.insert(COM1_PORT, SERIAL_PORT_COUNT, serial.clone())?;
    let i8042 = I8042::new(ResetTrigger(exit.clone()));
    pio.insert(
        I8042_DATA_PORT,
        I8042_PORT_COUNT,
        Arc::new(Mutex::new(i8042)),
    )?;
    let boot_timer = BootTimer::new(start);
    let boot_reached_ms = boot_timer.reached_ms();
    pio.insert(BOOT_TIMER_PORT, 1, Arc::new(Mutex::new(boot_timer)))?;
    Ok(LegacyDevices {
        pio,
        serial,
        boot_reached_ms,
    })
}

fn serial_writer(
    output: &SerialOutput,
    console: ConsoleKind,
) -> Result<Box<dyn Write + Send>, BuildError> {
    Ok(match output {
        // With the console on virtio, stdout belongs to the guest's hvc0: the kernel log
        // moves to stderr so the two never interleave.
        SerialOutput::Stdout if console == ConsoleKind::Virtio => Box::new(std::io::stderr()),
        SerialOutput::Stdout => Box::new(std::io::stdout()),
        SerialOutput::Null => Box::new(std::io::sink()),
        SerialOutput::File(path) => Box::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| BuildError::SerialFile {
                    path: path.clone(),
                    source,
                })?,
        ),
    })
}

fn attach_serial_input(
    event_manager: &mut EventManager<Subscriber>,
    serial: &Arc<Mutex<SerialDevice>>,
) {
    let input = SerialInput::new(std::io::stdin(), serial.clone());
    event_manager.add_subscriber(Arc::new(Mutex::new(input)));
}

/// What attaching a virtio device touches.
struct VirtioEnv<'a> {
    vm: &'a Vm,
    memory: &'a Arc<GuestMemory>,
    cmdline: &'a mut Cmdline,
    mmio: &'a mut MmioDeviceManager,
    event_manager: &'a mut EventManager<Subscriber>,
    /// Every transport attached so far, in slot order (for snapshots).
    transports: Vec<SharedTransport>,
}

impl VirtioEnv<'_> {
    /// Puts `device` behind a virtio-mmio transport in the next slot (irqfd, ioeventfds,
    /// cmdline) and its event handler on the event loop.
    fn attach<D: VirtioDevice + 'static>(
        &mut self,
        device: D,
        events: Subscriber,
    ) -> Result<MmioSlot, BuildError> {
        let irq = EventFd::new(libc::EFD_NONBLOCK).map_err(resource("a virtio irq eventfd"))?;
        let transport = MmioTransport::new(
            device,
            self.memory.clone(),
            irq.try_clone().map_err(resource("a virtio irq eventfd"))?,
        );
        let notify: Vec<(u16, EventFd)> = transport
            .queue_notify_eventfds()
            .into_iter()
            .map(|(queue, fd)| fd.try_clone().map(|fd| (queue, fd)))
            .collect::<Result<_, _>>()
            .map_err(resource("a virtio queue eventfd"))?;
        let notify_refs: Vec<(u16, &EventFd)> = notify.iter().map(|(q, fd)| (*q, fd)).collect();
        let transport = Arc::new(Mutex::new(transport));
        let slot = self.mmio.attach_virtio(
            self.vm,
            self.cmdline,
            transport.clone(),
            &irq,
            &notify_refs,
        )?;
        self.transports.push(transport);
        self.event_manager.add_subscriber(events);
        Ok(slot)
    }
}

/// One virtio-blk device per disk, in order (the guest sees vda, vdb, ...).
fn attach_block_devices(env: &mut VirtioEnv<'_>, disks: &[DiskConfig]) -> Result<(), BuildError> {
    for disk in disks {
        let (block, events) = Block::new(BlockArgs {
            path: disk.path.clone(),
            read_only: disk.read_only,
            serial: disk.serial.clone().unwrap_or_default(),
        })?;
        let slot = env.attach(block, Arc::new(Mutex::new(events)))?;
        tracing::debug!("disk {} at {slot:?}", disk.path.display());
    }
    Ok(())
}

/// One vhost-user-fs device per share, connected to its backend now (a missing virtiofsd
/// fails the build, before the guest runs).
fn attach_fs_devices(env: &mut VirtioEnv<'_>, shares: &[FsConfig]) -> Result<(), BuildError> {
    for share in shares {
        let (fs, events) = VhostUserFs::new(&FsArgs {
            socket: share.socket.clone(),
            tag: share.tag.clone(),
        })?;
        let slot = env.attach(fs, Arc::new(Mutex::new(events)))?;
        tracing::debug!("virtio-fs {} at {slot:?}", share.tag);
    }
    Ok(())
}

/// A NIC's host side and the guest's MAC.
type NicHost = (Box<dyn HostNic>, MacAddr);

/// Opens every NIC's host side (a tap by name, or from the inherited fd; neither: a NIC
/// with no backend, whose frames go nowhere), paired with its MAC.
fn open_taps(nets: &[NetConfig]) -> Result<Vec<NicHost>, BuildError> {
    nets.iter()
        .map(|net| {
            let host: Box<dyn HostNic> = match (&net.tap, net.fd) {
                (Some(name), None) => Box::new(Tap::open(name)?),
                // SAFETY: `fd=N` names an fd the parent passed to this process for it alone
                // (VmConfig::validate checked it is non-negative); nothing else uses it.
                (None, Some(fd)) => Box::new(Tap::from_fd(unsafe { owned_fd(fd) }?)?),
                (None, None) => Box::new(NullNic::new().map_err(resource("a NIC's eventfd"))?),
                (Some(_), Some(_)) => return Err(ConfigError::NetBackend.into()),
            };
            Ok((host, net.mac.unwrap_or_else(MacAddr::random)))
        })
        .collect()
}

/// One virtio-net device per NIC, in order (the guest names them eth0, eth1, ...).
fn attach_net_devices(env: &mut VirtioEnv<'_>, hosts: Vec<NicHost>) -> Result<(), BuildError> {
    for (host, mac) in hosts {
        let (net, events) = Net::new(NetArgs { host, mac: mac.0 })?;
        let slot = env.attach(net, Arc::new(Mutex::new(events)))?;
        tracing::debug!("virtio-net {mac} at {slot:?}");
    }
    Ok(())
}

/// virtio-console port 0 (hvc0) on the VMM's stdin/stdout; when stdin is a terminal, its
/// size and SIGWINCH resizes reach the guest.
fn attach_virtio_console(env: &mut VirtioEnv<'_>) -> Result<(), BuildError> {
    let stdin = std::io::stdin();
    let tty = tty_size(stdin.as_raw_fd());
    let (console, events) = Console::new(ConsoleArgs {
        input: Some(Box::new(stdin)),
        output: Box::new(std::io::stdout()),
        size: tty.unwrap_or((0, 0)),
    })?;
    if tty.is_some() {
        match WinchWatcher::new(std::io::stdin().as_raw_fd(), console.resizer()) {
            Ok(watcher) => {
                env.event_manager
                    .add_subscriber(Arc::new(Mutex::new(watcher)));
            }
            Err(e) => tracing::warn!("terminal resizes will not reach the guest: {e}"),
        }
    }
    let slot = env.attach(console, Arc::new(Mutex::new(events)))?;
    tracing::debug!("virtio console at {slot:?}");
    Ok(())
}

/// One listening socket per socket console, in order.
fn listen_on_console_sockets(
    consoles: &[VirtioConsoleConfig],
) -> Result<Vec<ConsoleListener>, BuildError> {
    consoles
        .iter()
        .map(|console| ConsoleListener::bind(&console.socket).map_err(BuildError::from))
        .collect()
}

/// How long a socket console waits for its client (hull connects within milliseconds; this
/// only bounds a client that died first).
const CONSOLE_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The socket consoles after any stdio one (the guest numbers hvcN in this order). Waits
/// for each socket's peer before building its device, as QEMU's `wait=on` does: the vCPUs
/// only start afterwards, so the guest's first output already has a reader.
fn attach_socket_consoles(
    env: &mut VirtioEnv<'_>,
    sockets: Vec<ConsoleListener>,
) -> Result<(), BuildError> {
    for socket in sockets {
        let path = socket.path().to_path_buf();
        tracing::info!(
            "virtio-console: waiting for a connection on {}",
            path.display()
        );
        let stream = socket.accept(CONSOLE_CONNECT_TIMEOUT)?;
        let input = stream
            .try_clone()
            .map_err(resource("a console socket handle"))?;
        // No terminal size: hull sends its window size over the control console.
        let (console, events) = Console::new(ConsoleArgs {
            input: Some(Box::new(input)),
            output: Box::new(stream),
            size: (0, 0),
        })?;
        let slot = env.attach(console, Arc::new(Mutex::new(events)))?;
        tracing::debug!("virtio console on {} at {slot:?}", path.display());
    }
    Ok(())
}

/// Writes the command line, the MP table and the zero page or PVH start_info; returns how
/// the boot vCPU enters the kernel.
fn configure_system(
    memory: &GuestMemory,
    kernel: &LoadedKernel,
    cmdline: &Cmdline,
    initrd: Option<(GuestAddress, u64)>,
    cpus: u8,
    mem_size: u64,
) -> Result<BootEntry, BuildError> {
    linux_loader::loader::load_cmdline(memory, CMDLINE_START, cmdline)
        .map_err(BuildError::CmdlineLoad)?;
    let cmdline_len = cmdline
        .as_cstring()
        .map_err(BuildError::Cmdline)?
        .as_bytes()
        .len();
    setup_mptable(memory, cpus)?;
    let e820 = e820_map(&ram_ranges(mem_size));
    let inputs = BootInputs {
        cmdline_addr: CMDLINE_START,
        cmdline_len,
        initrd,
    };
    let boot_data = |what| move |source| BuildError::BootData { what, source };
    Ok(match kernel.entry {
        KernelEntry::Pvh(entry) => {
            let start_info = write_pvh_start_info(memory, &inputs, &e820)
                .map_err(boot_data("PVH start info"))?;
            BootEntry::Pvh {
                entry: entry.0,
                start_info: start_info.0,
            }
        }
        KernelEntry::Linux64(entry) => {
            let params = linux_boot_params(kernel.setup_header, &inputs, &e820);
            write_linux_boot_params(memory, &params).map_err(boot_data("zero page"))?;
            BootEntry::Linux64 { entry: entry.0 }
        }
    })
}

/// Creates and configures every vCPU (CPUID, MSRs, FPU, LAPIC); vCPU 0 also gets the boot
/// registers, the others wait for the guest's INIT/SIPI.
#[allow(clippy::too_many_arguments)]
fn create_vcpus(
    kvm: &Kvm,
    vm: &Vm,
    memory: &GuestMemory,
    config: &VmConfig,
    start_at: VcpuStart<'_>,
    pio: &PioDeviceManager,
    mmio: &MmioDeviceManager,
    exit: &Arc<ExitSignal>,
) -> Result<Vec<VcpuRunner>, BuildError> {
    let supported = kvm.supported_cpuid()?;
    let cpu = GuestCpu {
        vendor: config.cpu_vendor.resolve(),
        hide_unemulated: emulation_only_kvm(),
    };
    tracing::debug!("guest CPU: {cpu:?}");
    let msrs = boot_msrs().map_err(BuildError::Msrs)?;
    let mut runners = Vec::with_capacity(usize::from(config.cpus));
    for id in 0..config.cpus {
        let vcpu = vm.create_vcpu(id)?;
        let err = |source| BuildError::Vcpu { id, source };
        let entry = match start_at {
            VcpuStart::Boot(entry) => entry,
            VcpuStart::Restore(restore) => {
                restore.restore_vcpu(&vcpu)?;
                runners.push(VcpuRunner {
                    vcpu: Arc::new(Mutex::new(vcpu)),
                    id,
                    pio: pio.clone(),
                    mmio: mmio.clone(),
                    exit: exit.clone(),
                    pause: Arc::default(),
                });
                continue;
            }
        };
        vcpu.set_cpuid(&filter_cpuid(&supported, id, config.cpus, cpu))
            .map_err(err)?;
        vcpu.set_msrs(&msrs).map_err(err)?;
        vcpu.set_fpu(&boot_fpu()).map_err(err)?;
        let mut lapic = vcpu.lapic().map_err(err)?;
        set_lint_pins(&mut lapic);
        vcpu.set_lapic(&lapic).map_err(err)?;
        if id == 0 {
            let mut sregs = vcpu.sregs().map_err(err)?;
            setup_boot_sregs(memory, entry, &mut sregs).map_err(|source| BuildError::BootData {
                what: "boot GDT and page tables",
                source,
            })?;
            vcpu.set_sregs(&sregs).map_err(err)?;
            vcpu.set_regs(&boot_regs(entry)).map_err(err)?;
        }
        runners.push(VcpuRunner {
            vcpu: Arc::new(Mutex::new(vcpu)),
            id,
            pio: pio.clone(),
            mmio: mmio.clone(),
            exit: exit.clone(),
            pause: Arc::default(),
        });
    }
    Ok(runners)
}
