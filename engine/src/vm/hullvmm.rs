//! hull-vmm, our own VMM, with the same guest as the QEMU engine: three virtio-console
//! devices (hvc0 stdio/tty, hvc1 stderr, hvc2 control) on unix sockets hull-vmm listens
//! on. hull hands hull-vmm a `VmConfig` (its own type, as JSON: `hull-vmm --config`), not
//! an argv of strings. hull-vmm starts the vCPUs only once hull has
//! connected all three, so not a byte of output is lost, and the guest's `ready` handshake,
//! separate stderr and signals over hvc2 work as they do under QEMU.

use super::{
    connect_consoles, console_socket, prepare_socket_dir, Engine, RunningVm, VmSpec, CONSOLE_PORTS,
};
use crate::host::EngineKind;
use anyhow::{bail, Context, Result};
use hull_vmm::config::{
    CpuVendorPolicy, DiskConfig, NetConfig, SerialOutput, VirtioConsoleConfig, VmConfig,
};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The file beside the console sockets that holds the VM's `VmConfig`.
const CONFIG_FILE: &str = "vm.json";

/// The hull-vmm engine.
pub struct HullVmm {
    /// KVM here only emulates guest kernel code: show the guest an Intel CPU (keeps Linux
    /// off AMD's x87 FXSAVE_LEAK path, which that KVM cannot emulate).
    pub emulated_kvm: bool,
}

impl HullVmm {
    /// What hull-vmm boots for `spec`, as its own `VmConfig` (pure: unit-tested).
    pub fn config(&self, spec: &VmSpec) -> Result<VmConfig> {
        let mut config = VmConfig::new(&spec.kernel);
        config.initrd = Some(spec.initramfs.clone());
        config.cmdline = Some(spec.cmdline.clone());
        config.mem_mib = u32::try_from(spec.mem_mib)
            .with_context(|| format!("{} MiB of guest memory is too much", spec.mem_mib))?;
        config.cpus =
            u8::try_from(spec.cpus).with_context(|| format!("{} vCPUs are too many", spec.cpus))?;
        config.disks = spec
            .disks
            .iter()
            .map(|disk| DiskConfig {
                path: disk.path.clone(),
                read_only: disk.read_only,
                serial: Some(disk.serial.clone()),
            })
            .collect();
        // Attach order is the guest's hvcN order; COM1 goes to the serial log, and the
        // VMM's stdin and stdout carry nothing.
        config.virtio_consoles = CONSOLE_PORTS
            .iter()
            .map(|port| VirtioConsoleConfig {
                socket: console_socket(&spec.socket_dir, port),
            })
            .collect();
        // The volumes' share: hull-vmm's vhost-user-fs device, on shared (memfd) guest RAM.
        config.fs = spec
            .share
            .iter()
            .map(|socket| hull_vmm::config::FsConfig {
                socket: socket.clone(),
                tag: hull_protocol::SHARE_TAG.into(),
            })
            .collect();
        config.nets = spec
            .nics
            .iter()
            .enumerate()
            .map(|(index, nic)| {
                Ok(NetConfig {
                    tap: None,
                    fd: Some(super::nic_child_fd(index)),
                    mac: Some(
                        nic.mac
                            .parse()
                            .map_err(|_| anyhow::anyhow!("{:?} is not a MAC address", nic.mac))?,
                    ),
                })
            })
            .collect::<Result<_>>()?;
        config.serial = SerialOutput::File(spec.serial_log.clone());
        // `hull pause`/`unpause` speak QMP to it there.
        config.control_socket = Some(super::qmp::qmp_socket(&spec.socket_dir));
        if self.emulated_kvm {
            config.cpu_vendor = CpuVendorPolicy::Intel;
        } else {
            // Free page reporting gives freed guest memory back (issue 22). Not under
            // emulation-only KVM: the guest's reporting worker would be emulated CPL0 work
            // every 2 s, for test VMs that live seconds.
            config.balloon = true;
        }
        config.validate()?;
        Ok(config)
    }
}

/// hull-vmm: HULL_VMM_BIN, else next to the hull executable, else on $PATH.
pub fn locate() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("HULL_VMM_BIN") {
        return Ok(path.into());
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hull-vmm")))
        .filter(|path| path.is_file())
    {
        return Ok(beside);
    }
    if let Some(found) = crate::host::find_in_path("hull-vmm") {
        return Ok(found.into());
    }
    bail!("hull-vmm not found: build it (cargo build --release -p hull-vmm), set HULL_VMM_BIN, or use --vmm qemu")
}

impl Engine for HullVmm {
    fn kind(&self) -> EngineKind {
        EngineKind::Hull
    }

    fn spawn(&self, spec: &VmSpec) -> Result<RunningVm> {
        let binary = locate()?;
        prepare_socket_dir(&spec.socket_dir)?;
        let config_path = spec.socket_dir.join(CONFIG_FILE);
        let config = serde_json::to_vec_pretty(&self.config(spec)?)?;
        std::fs::write(&config_path, config)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let log = File::create(&spec.engine_log)
            .with_context(|| format!("cannot create {}", spec.engine_log.display()))?;
        let mut command = Command::new(&binary);
        super::pass_nic_fds(&mut command, &spec.nics)?;
        let mut child = command
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let consoles =
            connect_consoles(&mut child, &spec.socket_dir, &spec.engine_log, "hull-vmm")?;
        Ok(RunningVm { child, consoles })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::DiskSpec;

    #[test]
    fn the_config_carries_disks_and_three_socket_consoles_in_port_order() {
        let spec = VmSpec {
            kernel: "/k".into(),
            initramfs: "/i".into(),
            cmdline: "quiet".into(),
            mem_mib: 128,
            cpus: 1,
            disks: vec![DiskSpec {
                path: "/l.erofs".into(),
                serial: "hull-layer-0".into(),
                read_only: true,
            }],
            socket_dir: "/run/x".into(),
            serial_log: "/tmp/vm.log".into(),
            engine_log: "/tmp/e.log".into(),
            nics: vec![crate::vm::NicSpec {
                tap: std::sync::Arc::new(std::os::fd::OwnedFd::from(
                    std::fs::File::open("/dev/null").unwrap(),
                )),
                mac: "02:42:ac:11:00:02".into(),
            }],
            share: None,
        };
        let config = HullVmm { emulated_kvm: true }.config(&spec).unwrap();
        assert_eq!(
            config.disks,
            [DiskConfig {
                path: "/l.erofs".into(),
                read_only: true,
                serial: Some("hull-layer-0".into()),
            }]
        );
        assert_eq!(config.serial, SerialOutput::File("/tmp/vm.log".into()));
        assert_eq!(
            config.nets,
            [NetConfig {
                tap: None,
                fd: Some(3),
                mac: Some("02:42:ac:11:00:02".parse().unwrap()),
            }]
        );
        assert_eq!(
            config.console,
            hull_vmm::config::ConsoleKind::Serial,
            "no stdio console"
        );
        let sockets: Vec<_> = config.virtio_consoles.iter().map(|c| &c.socket).collect();
        assert_eq!(
            sockets,
            ["/run/x/hvc0.sock", "/run/x/hvc1.sock", "/run/x/hvc2.sock"].map(std::path::Path::new)
        );
        assert_eq!((config.mem_mib, config.cpus), (128, 1));
        assert_eq!(
            config.control_socket.as_deref(),
            Some(std::path::Path::new("/run/x/vmm.sock"))
        );
        assert_eq!(config.cpu_vendor, CpuVendorPolicy::Intel);
        assert!(!config.balloon, "no balloon under emulated KVM");
        let native = HullVmm {
            emulated_kvm: false,
        }
        .config(&spec)
        .unwrap();
        assert_eq!(native.cpu_vendor, CpuVendorPolicy::Auto);
        assert!(native.balloon);
        // hull-vmm reads back what hull writes.
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<VmConfig>(&json).unwrap(), config);
        let shared = VmSpec {
            share: Some("/run/x/share.sock".into()),
            ..spec.clone()
        };
        let config = HullVmm {
            emulated_kvm: false,
        }
        .config(&shared)
        .unwrap();
        assert_eq!(config.fs.len(), 1);
        assert_eq!(config.fs[0].socket, PathBuf::from("/run/x/share.sock"));
        assert_eq!(config.fs[0].tag, "hull-share");
        let huge = VmSpec { cpus: 1000, ..spec };
        assert!(HullVmm {
            emulated_kvm: false
        }
        .config(&huge)
        .is_err());
    }
}
