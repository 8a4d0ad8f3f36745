//! hull-vmm, our own VMM, with the same guest as the QEMU engine: three virtio-console
//! devices (hvc0 stdio/tty, hvc1 stderr, hvc2 control) on unix sockets hull-vmm listens
//! on. hull hands hull-vmm a `VmConfig` (its own type, as JSON: `hull-vmm --config`), not
//! an argv of strings. hull-vmm starts the vCPUs only once hull has
//! connected all three, so not a byte of output is lost, and the guest's `ready` handshake,
//! separate stderr and signals over hvc2 work as they do under QEMU.
//!
//! Warm start ([`super::warm`]): a zygote is saved with hull-vmm's `x-hull-snapshot`
//! (`state` and `memory` in the zygote's directory) and restored with `VmConfig.restore`;
//! the container's disks, console sockets and tap take the zygote's device slots (its NIC
//! had no backend), and hull-vmm refuses a config whose device layout differs.

use super::warm::{self, RestoreFailed};
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
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The file beside the console sockets that holds the VM's `VmConfig`.
const CONFIG_FILE: &str = "vm.json";

/// How long hull-vmm may take to exit after `quit` once it has saved a zygote.
const QUIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The hull-vmm engine.
pub struct HullVmm {
    /// KVM here only emulates guest kernel code: show the guest an Intel CPU (keeps Linux
    /// off AMD's x87 FXSAVE_LEAK path, which that KVM cannot emulate).
    pub emulated_kvm: bool,
}

impl HullVmm {
    /// What hull-vmm boots (or, with `spec.restore`, restores) for `spec`, as its own
    /// `VmConfig` (pure: unit-tested). A restore gets the zygote's command line and the
    /// container's disks in the zygote's slots ([`warm::slot_disks`]); disks that do not
    /// fit are a [`RestoreFailed`].
    pub fn config(&self, spec: &VmSpec) -> Result<VmConfig> {
        let slotted;
        let (cmdline, disks) = match &spec.restore {
            None => (&spec.cmdline, &spec.disks),
            Some(zygote) => {
                slotted = warm::slot_disks(zygote, &spec.disks).ok_or_else(|| {
                    RestoreFailed("the container's disks do not fit the zygote's slots".into())
                })?;
                (&zygote.cmdline, &slotted)
            }
        };
        let mut config = VmConfig::new(&spec.kernel);
        config.initrd = Some(spec.initramfs.clone());
        config.cmdline = Some(cmdline.clone());
        config.mem_mib = u32::try_from(spec.mem_mib)
            .with_context(|| format!("{} MiB of guest memory is too much", spec.mem_mib))?;
        config.cpus =
            u8::try_from(spec.cpus).with_context(|| format!("{} vCPUs are too many", spec.cpus))?;
        config.disks = disks
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
                    // None: the zygote's NIC, with no backend; a restore puts the
                    // container's tap in its slot.
                    fd: nic.tap.as_ref().map(|_| super::nic_child_fd(index)),
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
        config.restore = spec.restore.as_ref().map(|zygote| zygote.dir.clone());
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
        let config = serde_json::to_vec_pretty(&self.config(spec)?)?;
        prepare_socket_dir(&spec.socket_dir)?;
        let config_path = spec.socket_dir.join(CONFIG_FILE);
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
        let consoles = if spec.restore.is_some() {
            warm::connect_resumed(&mut child, spec, "hull-vmm", || Ok(()))?
        } else {
            connect_consoles(&mut child, &spec.socket_dir, &spec.engine_log, "hull-vmm")?
        };
        Ok(RunningVm {
            child: super::process::VmmProcess::Child(child),
            consoles,
        })
    }

    fn warm_start(&self) -> bool {
        true
    }

    /// `stop`, then `x-hull-snapshot` into `state`'s directory (hull-vmm writes `state`
    /// there last, after `memory`), then `quit`, and waits for hull-vmm to exit.
    fn save(&self, vm: &mut RunningVm, socket_dir: &Path, state: &Path) -> Result<()> {
        let dir = state
            .parent()
            .filter(|dir| dir.is_absolute())
            .with_context(|| format!("{} is not in an absolute directory", state.display()))?;
        if state.file_name() != Some(std::ffi::OsStr::new("state")) {
            bail!(
                "hull-vmm saves a VM as `state` in a directory, not as {}",
                state.display()
            );
        }
        let mut qmp = super::qmp::QmpClient::connect(&super::qmp::qmp_socket(socket_dir))?;
        qmp.execute("stop")?;
        let saved = qmp
            .execute_with("x-hull-snapshot", Some(serde_json::json!({ "dir": dir })))
            .context("hull-vmm could not save the VM")?;
        tracing::debug!("hull-vmm saved the zygote: {saved}");
        let _ = qmp.execute("quit");
        let deadline = Instant::now() + QUIT_TIMEOUT;
        loop {
            if let Some(status) = vm.child.try_wait().context("waiting for hull-vmm")? {
                if !status.success() {
                    bail!("hull-vmm exited ({status}) after saving the VM");
                }
                break;
            }
            if Instant::now() > deadline {
                let _ = vm.child.kill();
                let _ = vm.child.wait();
                bail!("hull-vmm did not exit within {QUIT_TIMEOUT:?} of `quit`");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if !state.is_file() {
            bail!("hull-vmm saved nothing at {}", state.display());
        }
        Ok(())
    }

    /// The hull-vmm binary (path, size, mtime) and whether KVM is emulation-only (the
    /// guest then sees another CPU).
    fn build_id(&self) -> String {
        let binary = locate()
            .map(|path| warm::cache::file_identity(&path))
            .unwrap_or_default();
        format!("{binary} emulated-kvm={}", self.emulated_kvm)
    }

    /// On emulation-only KVM the guest kernel boots in ~45 s on an idle host, far longer on
    /// a loaded one.
    fn park_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(if self.emulated_kvm { 600 } else { 90 })
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
                tap: Some(std::sync::Arc::new(std::os::fd::OwnedFd::from(
                    std::fs::File::open("/dev/null").unwrap(),
                ))),
                mac: "02:42:ac:11:00:02".into(),
            }],
            share: None,
            restore: None,
            zygote_memory: None,
            rehearse: false,
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

    fn tap() -> Option<std::sync::Arc<std::os::fd::OwnedFd>> {
        Some(std::sync::Arc::new(std::os::fd::OwnedFd::from(
            std::fs::File::open("/dev/null").unwrap(),
        )))
    }

    fn container_spec() -> VmSpec {
        let disk = |path: &str, serial: &str, read_only| DiskSpec {
            path: path.into(),
            serial: serial.into(),
            read_only,
        };
        VmSpec {
            kernel: "/k".into(),
            initramfs: "/i".into(),
            cmdline: "quiet".into(),
            mem_mib: 256,
            cpus: 1,
            disks: vec![
                disk("/c/config.img", hull_protocol::CONFIG_DISK_SERIAL, false),
                disk("/l/0.erofs", "hull-layer-0", true),
                disk("/c/rw.img", hull_protocol::WRITABLE_DISK_SERIAL, false),
            ],
            socket_dir: "/run/x".into(),
            serial_log: "/c/vm.log".into(),
            engine_log: "/c/engine.log".into(),
            nics: vec![crate::vm::NicSpec {
                tap: tap(),
                mac: "02:42:ac:11:00:02".into(),
            }],
            share: None,
            restore: None,
            zygote_memory: None,
            rehearse: false,
        }
    }

    fn zygote() -> warm::Zygote {
        warm::Zygote {
            dir: "/cache/warm/hull-00aa".into(),
            cmdline: "quiet hull.warm=park".into(),
            layer_slots: 3,
        }
    }

    #[test]
    fn a_restore_fills_the_zygotes_slots_and_boots_nothing_new() {
        let engine = HullVmm { emulated_kvm: true };
        let spec = VmSpec {
            restore: Some(zygote()),
            ..container_spec()
        };
        let config = engine.config(&spec).unwrap();
        assert_eq!(
            config.restore.as_deref(),
            Some(Path::new("/cache/warm/hull-00aa"))
        );
        assert_eq!(config.cmdline.as_deref(), Some("quiet hull.warm=park"));
        let disks: Vec<(&str, &str, bool)> = config
            .disks
            .iter()
            .map(|d| {
                (
                    d.path.to_str().unwrap(),
                    d.serial.as_deref().unwrap(),
                    d.read_only,
                )
            })
            .collect();
        assert_eq!(
            disks,
            [
                ("/c/config.img", "hull-config", false),
                ("/l/0.erofs", "hull-layer-0", true),
                ("/cache/warm/hull-00aa/spare.img", "hull-spare-1", true),
                ("/cache/warm/hull-00aa/spare.img", "hull-spare-2", true),
                ("/c/rw.img", "hull-rw", false),
            ]
        );
        // The container's tap goes where the zygote's NIC was.
        assert_eq!(config.nets.len(), 1);
        assert_eq!(
            (config.nets[0].tap.as_ref(), config.nets[0].fd),
            (None, Some(3))
        );
        assert_eq!(
            config.nets[0].mac,
            Some("02:42:ac:11:00:02".parse().unwrap())
        );
        let sockets: Vec<_> = config.virtio_consoles.iter().map(|c| &c.socket).collect();
        assert_eq!(
            sockets,
            ["/run/x/hvc0.sock", "/run/x/hvc1.sock", "/run/x/hvc2.sock"].map(Path::new)
        );
        assert_eq!(config.serial, SerialOutput::File("/c/vm.log".into()));
        // A boot restores nothing.
        let cold = engine.config(&container_spec()).unwrap();
        assert_eq!(cold.restore, None);
        assert_eq!(cold.cmdline.as_deref(), Some("quiet"));
        assert_eq!(cold.disks.len(), 3);
    }

    /// What the zygote was booted with and what a restore asks for have one device layout
    /// (hull-vmm refuses a restore otherwise), whatever backs the NIC.
    #[test]
    fn the_zygote_and_its_restores_have_one_device_layout() {
        use hull_vmm::snapshot::DeviceLayout;
        for emulated_kvm in [true, false] {
            let engine = HullVmm { emulated_kvm };
            let zygote = zygote();
            let spare = |index| DiskSpec {
                path: zygote.spare_disk(),
                serial: hull_protocol::spare_disk_serial(index),
                read_only: true,
            };
            let base = container_spec();
            let booted = VmSpec {
                cmdline: zygote.cmdline.clone(),
                disks: [base.disks[0].clone(), spare(0), spare(1), spare(2)]
                    .into_iter()
                    .chain([base.disks[2].clone()])
                    .collect(),
                nics: vec![crate::vm::NicSpec {
                    tap: None,
                    mac: hull_protocol::ZYGOTE_MAC.into(),
                }],
                ..base.clone()
            };
            let booted = engine.config(&booted).unwrap();
            assert_eq!(
                (booted.nets[0].tap.as_ref(), booted.nets[0].fd),
                (None, None),
                "the zygote's NIC has no backend"
            );
            assert_eq!(booted.restore, None);
            let layout = DeviceLayout::of(&booted).unwrap();
            let restored = engine
                .config(&VmSpec {
                    restore: Some(zygote.clone()),
                    ..base.clone()
                })
                .unwrap();
            assert_eq!(layout.check(&restored), Ok(()));
            // A container with more layers than slots: no restore, a boot.
            let mut crowded = base.clone();
            for index in 1..5 {
                crowded.disks.insert(
                    1,
                    DiskSpec {
                        path: format!("/l/{index}.erofs").into(),
                        serial: format!("hull-layer-{index}"),
                        read_only: true,
                    },
                );
            }
            let err = engine
                .config(&VmSpec {
                    restore: Some(zygote.clone()),
                    ..crowded
                })
                .unwrap_err();
            assert!(err.is::<RestoreFailed>(), "{err:#}");
        }
    }

    #[test]
    fn the_build_id_names_the_binary_and_the_kvm_kind() {
        let id = HullVmm { emulated_kvm: true }.build_id();
        assert!(id.ends_with(" emulated-kvm=true"), "{id}");
        assert_ne!(
            id,
            HullVmm {
                emulated_kvm: false
            }
            .build_id()
        );
    }

    #[test]
    fn a_zygote_on_emulation_only_kvm_may_take_minutes_to_park() {
        let emulated = HullVmm { emulated_kvm: true }.park_timeout();
        let hardware = HullVmm {
            emulated_kvm: false,
        }
        .park_timeout();
        assert!(
            emulated >= std::time::Duration::from_secs(300),
            "{emulated:?}"
        );
        assert_eq!(hardware, std::time::Duration::from_secs(90));
    }
}
