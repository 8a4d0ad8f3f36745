//! PID 1 in the guest: mount the basics, find the disks, read the spec, run the
//! container, write the result, power off.

use crate::cgroup::CGROUP_ROOT;
use crate::console::{self, Consoles};
use crate::disks;
use crate::error::EXIT_SETUP_FAILED;
use crate::ports;
use crate::rootfs::Layout;
use crate::runner::{self, Environment};
use crate::supervisor::show_setup_error;
use crate::timeline;
use hull_protocol::{RunResult, RunSpec, CONFIG_DISK_SERIAL};
use nix::mount::MsFlags;
use std::fs::{File, OpenOptions};
use std::path::Path;

/// Where PID 1 mounts layers, the writable disk and the container root.
/// Where the guest mounts the layers, the writable disk and the container's root.
pub const WORK_DIR: &str = "/mnt";

/// The guest's own pseudo filesystems: (fstype, target, flags, data).
const BASIC_MOUNTS: [(&str, &str, MsFlags, Option<&str>); 4] = [
    (
        "proc",
        "/proc",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        None,
    ),
    (
        "sysfs",
        "/sys",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        None,
    ),
    ("devtmpfs", "/dev", MsFlags::MS_NOSUID, Some("mode=0755")),
    (
        "tmpfs",
        "/run",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        Some("mode=0755"),
    ),
];

fn mount_basics() {
    for (fstype, target, flags, data) in BASIC_MOUNTS {
        let _ = std::fs::create_dir_all(target);
        match nix::mount::mount(Some(fstype), target, Some(fstype), flags, data) {
            // The kernel may have mounted devtmpfs itself (CONFIG_DEVTMPFS_MOUNT).
            Ok(()) | Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => log!("mount {fstype} on {target} failed: {e}"),
        }
    }
}

/// Mounts cgroup2; `None` (logged) when the kernel has no cgroup v2.
fn mount_cgroup2() -> Option<std::path::PathBuf> {
    let _ = std::fs::create_dir_all(CGROUP_ROOT);
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match nix::mount::mount(
        Some("cgroup2"),
        CGROUP_ROOT,
        Some("cgroup2"),
        flags,
        None::<&str>,
    ) {
        Ok(()) => Some(CGROUP_ROOT.into()),
        Err(e) => {
            log!("mount cgroup2 on {CGROUP_ROOT} failed: {e}");
            None
        }
    }
}

/// Whether the spec on the disk asks for a terminal (decides how consoles are opened, even
/// before the spec is validated).
fn wants_terminal(spec: &RunSpec) -> bool {
    spec.config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

fn open_consoles(terminal: bool) -> Option<Consoles> {
    match console::open_guest_consoles(Path::new("/dev"), terminal, Path::new("/dev/console")) {
        Ok(consoles) => Some(consoles),
        Err(e) => {
            log!("{e}");
            None
        }
    }
}

fn write_result(config: &mut File, result: &RunResult) {
    if let Err(e) = result
        .write_to(config)
        .and_then(|()| config.sync_all().map_err(Into::into))
    {
        log!("cannot write the result to the config disk: {e}");
    }
}

/// Powers the VM off; never returns. No global sync here: the paths that wrote something
/// made it durable themselves (the result frame with `sync_all`, the writable layer with
/// `syncfs` in the runner, the panic hook with `sync`), and a sync of everything costs one
/// more disk flush (~10 ms under TCG) on every run.
fn power_off() -> ! {
    ports::debug_exit();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
    // reboot(2) does not return for PID 1 unless it failed; nothing is left to do.
    loop {
        nix::unistd::pause();
    }
}

/// A panic in PID 1 would become a kernel panic and leave the host without a result:
/// report it as a setup failure instead, then power off.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let text = format!("hull-init crashed: {info}; please report this bug");
        log!("{text}");
        // The crash may come while the writable layer has unwritten changes.
        nix::unistd::sync();
        let disks = disks::scan(Path::new("/sys/block"), Path::new("/dev"));
        if let Some(path) = disks.get(CONFIG_DISK_SERIAL) {
            if let Ok(mut config) = OpenOptions::new().read(true).write(true).open(path) {
                write_result(&mut config, &RunResult::failed(EXIT_SETUP_FAILED, text));
            }
        }
        power_off();
    }));
}

/// Runs the container the config disk's spec describes; returns the open config disk and
/// how the container ended. None (logged) without a config disk.
fn run_from_config_disk() -> Option<(File, RunResult)> {
    let disks = disks::scan(Path::new("/sys/block"), Path::new("/dev"));
    timeline::mark("disks");
    let Some(config_path) = disks.get(CONFIG_DISK_SERIAL) else {
        log!("no disk with serial {CONFIG_DISK_SERIAL}: the engine must attach the config disk; found {disks:?}");
        return None;
    };
    let mut config = match OpenOptions::new().read(true).write(true).open(config_path) {
        Ok(file) => file,
        Err(e) => {
            log!("cannot open the config disk {}: {e}", config_path.display());
            return None;
        }
    };
    let result = match RunSpec::read_from(&mut config) {
        Err(e) => {
            let text = format!("cannot read the run spec: {e}");
            show_setup_error(open_consoles(false).as_ref(), &text);
            RunResult::failed(EXIT_SETUP_FAILED, text)
        }
        Ok(spec) => match open_consoles(wants_terminal(&spec)) {
            None => RunResult::failed(EXIT_SETUP_FAILED, "no console for the container's output"),
            Some(consoles) => {
                timeline::mark("consoles");
                consoles.announce_ready();
                let env = Environment {
                    layout: Layout::new(WORK_DIR),
                    cgroup_root: mount_cgroup2(),
                    disks,
                    owns_network: true,
                };
                runner::run_spec(&spec, &env, &consoles)
            }
        },
    };
    Some((config, result))
}

/// A warm-pool VM's rehearsal: runs the host's stand-in container, then takes down what it
/// set up, so the container handed over next starts from the state a restore has. A
/// rehearsal that fails, or leaves something mounted, powers the VM off: the host never
/// hands over a VM whose old file systems could outlive it.
fn rehearse() {
    let Some((_, result)) = run_from_config_disk() else {
        power_off();
    };
    if result.exit_code != 0 {
        log!("the warm-pool rehearsal failed: {result:?}");
        power_off();
    }
    if let Err(e) = crate::rehearsal::clean_up(Path::new(WORK_DIR), Path::new(CGROUP_ROOT)) {
        log!("cannot clean up after the warm-pool rehearsal: {e}");
        power_off();
    }
}

/// The whole life of the guest.
pub fn run_as_pid1() -> ! {
    ports::mark_boot_timer();
    timeline::mark("init");
    install_panic_hook();
    mount_basics();
    // A zygote stops here until a container's restore resumes it; a warm-pool VM rehearses
    // a container first, then parks again until it is handed one.
    let mut parking = crate::warm::park_if_zygote();
    while let Some(parked) = parking.take() {
        if !parked.rehearse() {
            parked.keep_open();
            break;
        }
        rehearse();
        parking = parked.park_again();
        if parking.is_none() {
            log!("no container claimed this warm-pool VM in time: powering off");
            power_off();
        }
    }
    let Some((mut config, result)) = run_from_config_disk() else {
        power_off();
    };
    write_result(&mut config, &result);
    timeline::mark("result");
    log!(
        "exit status {}; CLOCK_BOOTTIME ms: {}",
        result.exit_code,
        timeline::summary()
    );
    power_off()
}
