//! QEMU `-M microvm` with the same virtio-mmio devices hull-vmm offers. The three console
//! ports are unix sockets QEMU listens on with `wait=on`: QEMU does not start the guest
//! until hull has connected all three, so not a byte of output is lost.

use super::warm::{self, RestoreFailed};
use super::{
    connect_consoles, console_socket, prepare_socket_dir, Engine, RunningVm, VmSpec, CONSOLE_PORTS,
};
use crate::host::EngineKind;
use anyhow::{bail, Context, Result};
use std::borrow::Cow;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long saving a zygote may take.
const SAVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The QEMU engine.
pub struct Qemu {
    /// `-accel kvm` (hardware KVM) instead of `-accel tcg`.
    pub accel_kvm: bool,
    /// The host has `/dev/vhost-net`: the NICs' packets then bypass QEMU's main loop.
    pub vhost_net: bool,
}

impl Qemu {
    /// The full QEMU argument list for `spec` (pure: unit-tested).
    pub fn args(&self, spec: &VmSpec) -> Vec<String> {
        let memory = super::qemu_memory::backend_args(spec);
        let memory_backend = if memory.is_some() {
            ",memory-backend=ram"
        } else {
            ""
        };
        let mut args: Vec<String> = vec![
            "-M".into(),
            // acpi=off: QEMU then announces the virtio-mmio devices on the kernel command line
            // (the guest kernel has no ACPI). rtc=on: without a CMOS RTC the kernel's boot-time
            // wall-clock read polls port 0x70 for ~1 s ("Unable to read current time from
            // RTC"); measured here, a bare boot takes 1.3 s with rtc=off and 0.27 s with it.
            format!("microvm,x-option-roms=off,rtc=on,acpi=off{memory_backend}"),
            "-accel".into(),
            if self.accel_kvm { "kvm" } else { "tcg" }.into(),
            "-cpu".into(),
            "max".into(),
            "-m".into(),
            spec.mem_mib.to_string(),
            "-smp".into(),
            spec.cpus.to_string(),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-nographic".into(),
            "-no-reboot".into(),
            "-kernel".into(),
            spec.kernel.display().to_string(),
            "-initrd".into(),
            spec.initramfs.display().to_string(),
            "-append".into(),
            spec.cmdline.clone(),
            // A named chardev: a warm-pool VM's COM1 moves to its container's log.
            "-chardev".into(),
            format!(
                "file,id={SERIAL_CHARDEV},path={}",
                qemu_escape(&spec.serial_log)
            ),
            "-serial".into(),
            format!("chardev:{SERIAL_CHARDEV}"),
            "-device".into(),
            "isa-debug-exit,iobase=0xf4,iosize=4".into(),
            // Free page reporting: the guest hands the pages its processes free back, and
            // QEMU discards them (MADV_DONTNEED), so the VM's RSS shrinks again (issue 22).
            "-device".into(),
            "virtio-balloon-device,free-page-reporting=on".into(),
        ];
        for (index, disk) in spec.disks.iter().enumerate() {
            // Named block nodes (file `f<i>` under raw `d<i>`): a warm-pool VM's slots are
            // moved to a container's files by node name (`warm::pool`).
            let readonly = if disk.read_only { ",read-only=on" } else { "" };
            args.push("-blockdev".into());
            args.push(format!(
                "driver=file,node-name={},filename={}{readonly}",
                slot_file_node(index),
                qemu_escape(&disk.path)
            ));
            args.push("-blockdev".into());
            args.push(format!(
                "driver=raw,node-name=d{index},file={}{readonly}",
                slot_file_node(index)
            ));
            args.push("-device".into());
            args.push(format!(
                "virtio-blk-device,drive=d{index},serial={}",
                disk.serial
            ));
        }
        args.extend(memory.into_iter().flatten());
        if let Some(socket) = &spec.share {
            args.push("-chardev".into());
            args.push(format!("socket,id=share,path={}", qemu_escape(socket)));
            args.push("-device".into());
            args.push(format!(
                "vhost-user-fs-device,chardev=share,tag={}",
                hull_protocol::SHARE_TAG
            ));
        }
        for (index, nic) in spec.nics.iter().enumerate() {
            let vhost = if self.vhost_net { "on" } else { "off" };
            args.push("-netdev".into());
            args.push(match nic.tap {
                Some(_) => format!(
                    "tap,id=n{index},fd={},vhost={vhost}",
                    super::nic_child_fd(index)
                ),
                // A hub with no other port: the packets go nowhere.
                None => format!("hubport,id=n{index},hubid={index}"),
            });
            args.push("-device".into());
            args.push(format!("virtio-net-device,netdev=n{index},mac={}", nic.mac));
        }
        // QMP, for `hull pause`/`unpause` (`stop`/`cont`); wait=off: QEMU does not wait for
        // a client there.
        args.push("-qmp".into());
        args.push(format!(
            "unix:{},server=on,wait=off",
            qemu_escape(&super::qmp::qmp_socket(&spec.socket_dir))
        ));
        args.push("-device".into());
        args.push("virtio-serial-device,max_ports=4".into());
        // virtconsole `nr` order is the guest's hvcN order.
        for (nr, port) in CONSOLE_PORTS.iter().enumerate() {
            args.push("-chardev".into());
            args.push(format!(
                "socket,id={port},path={},server=on,wait=on",
                qemu_escape(&console_socket(&spec.socket_dir, port))
            ));
            args.push("-device".into());
            args.push(format!("virtconsole,chardev={port},nr={nr}"));
        }
        if spec.rehearse {
            // A warm-pool VM outlives the filler that starts it: its pid is recorded at once,
            // so that removing the pool ends it even mid-rehearsal (`warm::pool`).
            args.push("-pidfile".into());
            args.push(
                super::warm::pool::pid_file(&spec.socket_dir)
                    .display()
                    .to_string(),
            );
        }
        if spec.restore.is_some() {
            // Started over QMP once the consoles are connected (`qemu_memory`): the saved
            // state is then read straight from the file hull opened.
            args.push("-incoming".into());
            args.push("defer".into());
        }
        args
    }
}

/// The id of COM1's chardev.
pub(super) const SERIAL_CHARDEV: &str = "com1";

/// The node name of the file under disk slot `index` (the raw node above it is `d<index>`).
pub(super) fn slot_file_node(index: usize) -> String {
    format!("f{index}")
}

/// `spec` for QEMU: a restore boots the zygote's command line, with the container's disks
/// in the zygote's slots.
fn effective_spec(spec: &VmSpec) -> Result<Cow<'_, VmSpec>> {
    let Some(zygote) = &spec.restore else {
        return Ok(Cow::Borrowed(spec));
    };
    let disks = warm::slot_disks(zygote, &spec.disks).ok_or_else(|| {
        RestoreFailed("the container's disks do not fit the zygote's slots".into())
    })?;
    Ok(Cow::Owned(VmSpec {
        cmdline: zygote.cmdline.clone(),
        disks,
        ..spec.clone()
    }))
}

/// The fd number the saved state has in a restoring QEMU: above the NICs'.
fn restore_fd(spec: &VmSpec) -> std::os::fd::RawFd {
    super::nic_child_fd(spec.nics.len())
}

/// `path` as one word for `sh -c` (QEMU's `exec:` migration URIs run through the shell).
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

impl Engine for Qemu {
    fn kind(&self) -> EngineKind {
        EngineKind::Qemu
    }

    fn spawn(&self, spec: &VmSpec) -> Result<RunningVm> {
        let spec = effective_spec(spec)?;
        let spec = spec.as_ref();
        prepare_socket_dir(&spec.socket_dir)?;
        let engine_log = File::create(&spec.engine_log)
            .with_context(|| format!("cannot create {}", spec.engine_log.display()))?;
        let mut command = Command::new("qemu-system-x86_64");
        let mut fds = super::nic_fd_mappings(&spec.nics)?;
        if let Some(zygote) = &spec.restore {
            let state = File::open(zygote.state()).map_err(|e| {
                RestoreFailed(format!("cannot open {}: {e}", zygote.state().display()))
            })?;
            fds.push(command_fds::FdMapping {
                parent_fd: state.into(),
                child_fd: restore_fd(spec),
            });
        }
        super::pass_fds(&mut command, fds)?;
        if spec.restore.is_some() {
            super::qemu_memory::forbid_punching_holes(&mut command)?;
        }
        let mut child = command
            .args(self.args(spec))
            .stdin(Stdio::null())
            .stdout(engine_log.try_clone()?)
            .stderr(engine_log)
            .process_group(0)
            .spawn()
            .context("cannot start qemu-system-x86_64: install it (apt-get install qemu-system-x86) or use --vmm hull")?;
        let consoles = if spec.restore.is_some() {
            warm::connect_resumed(&mut child, spec, "qemu-system-x86_64", || {
                super::qemu_memory::start_incoming(spec, restore_fd(spec))
            })?
        } else {
            connect_consoles(
                &mut child,
                &spec.socket_dir,
                &spec.engine_log,
                "qemu-system-x86_64",
            )?
        };
        Ok(RunningVm {
            child: super::process::VmmProcess::Child(child),
            consoles,
        })
    }

    fn warm_start(&self) -> bool {
        true
    }

    /// QMP `migrate` to `state` (through `cat`, which renames its output into place once it
    /// has written the last byte: QEMU does not wait for it), then `quit`. Not `stop` first:
    /// the stream records the run state, and a restore of a stopped VM stays stopped (the
    /// parked guest is idle, so the live migration converges at once and ends stopped).
    fn save(&self, vm: &mut RunningVm, socket_dir: &Path, state: &Path) -> Result<()> {
        let mut qmp = super::qmp::QmpClient::connect(&super::qmp::qmp_socket(socket_dir))?;
        super::qemu_memory::ignore_shared_memory(&mut qmp)?;
        let partial = state.with_extension("part");
        let uri = format!(
            "exec:cat > {0} && mv {0} {1}",
            shell_quote(&partial),
            shell_quote(state)
        );
        qmp.execute_with("migrate", Some(serde_json::json!({ "uri": uri })))?;
        let deadline = Instant::now() + SAVE_TIMEOUT;
        loop {
            let status = qmp.execute("query-migrate")?;
            match status.get("status").and_then(serde_json::Value::as_str) {
                Some("completed") if state.exists() => break,
                Some("failed" | "cancelled") => bail!("QEMU could not save the VM: {status}"),
                _ if Instant::now() > deadline => {
                    bail!("QEMU did not save the VM within {SAVE_TIMEOUT:?}: {status}")
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = qmp.execute("quit");
        vm.child.wait().context("waiting for QEMU to quit")?;
        Ok(())
    }

    fn build_id(&self) -> String {
        let binary = crate::host::find_in_path("qemu-system-x86_64")
            .map(|path| warm::cache::file_identity(Path::new(&path)))
            .unwrap_or_default();
        format!(
            "{binary} accel-kvm={} vhost-net={}",
            self.accel_kvm, self.vhost_net
        )
    }
}

/// QEMU option values separate on commas; a literal comma is written twice.
pub(super) fn qemu_escape(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::DiskSpec;

    fn spec() -> VmSpec {
        VmSpec {
            kernel: "/k/vmlinux".into(),
            initramfs: "/k/init.cpio".into(),
            cmdline: "console=ttyS0 quiet".into(),
            mem_mib: 256,
            cpus: 2,
            disks: vec![
                DiskSpec {
                    path: "/s/layer,0.erofs".into(),
                    serial: "hull-layer-0".into(),
                    read_only: true,
                },
                DiskSpec {
                    path: "/c/rw.img".into(),
                    serial: "hull-rw".into(),
                    read_only: false,
                },
            ],
            socket_dir: "/run/x".into(),
            serial_log: "/c/vm.log".into(),
            engine_log: "/c/engine.log".into(),
            nics: Vec::new(),
            share: None,
            restore: None,
            zygote_memory: None,
            rehearse: false,
        }
    }

    #[test]
    fn arguments_follow_the_documented_microvm_layout() {
        let args = Qemu {
            accel_kvm: false,
            vhost_net: false,
        }
        .args(&spec())
        .join(" ");
        assert!(args.contains("-M microvm,x-option-roms=off,rtc=on,acpi=off -accel tcg"));
        assert!(args.contains("-append console=ttyS0 quiet"));
        assert!(args.contains(
            "-blockdev driver=file,node-name=f0,filename=/s/layer,,0.erofs,read-only=on \
             -blockdev driver=raw,node-name=d0,file=f0,read-only=on"
        ));
        assert!(args.contains(
            "driver=raw,node-name=d1,file=f1 -device virtio-blk-device,drive=d1,serial=hull-rw"
        ));
        assert!(args.contains("-chardev file,id=com1,path=/c/vm.log -serial chardev:com1"));
        assert!(args.contains("socket,id=hvc2,path=/run/x/hvc2.sock,server=on,wait=on"));
        assert!(args.contains("virtconsole,chardev=hvc1,nr=1"));
        assert!(args.contains("-qmp unix:/run/x/vmm.sock,server=on,wait=off"));
        assert!(args.contains("isa-debug-exit,iobase=0xf4,iosize=4"));
        assert!(args.contains("-device virtio-balloon-device,free-page-reporting=on"));
        assert!(!args.contains("filename=/c/rw.img,read-only"));
    }

    #[test]
    fn a_share_is_a_vhost_user_fs_device_over_shared_memfd_ram() {
        let qemu = Qemu {
            accel_kvm: false,
            vhost_net: false,
        };
        assert!(!qemu.args(&spec()).join(" ").contains("memfd"));
        let mut spec = spec();
        spec.share = Some("/run/x/share.sock".into());
        let args = qemu.args(&spec).join(" ");
        assert!(args.contains("-M microvm,x-option-roms=off,rtc=on,acpi=off,memory-backend=ram "));
        assert!(args.contains("-object memory-backend-memfd,id=ram,size=256M,share=on"));
        assert!(args.contains("-chardev socket,id=share,path=/run/x/share.sock"));
        assert!(args.contains("-device vhost-user-fs-device,chardev=share,tag=hull-share"));
    }

    /// A zygote writes its RAM through to its memory file; a restore maps that file
    /// privately and waits for the state over QMP.
    #[test]
    fn a_zygote_shares_its_memory_file_and_a_restore_maps_it_privately() {
        let qemu = Qemu {
            accel_kvm: false,
            vhost_net: false,
        };
        let mut zygote_boot = spec();
        zygote_boot.zygote_memory = Some("/w/q,1/memory".into());
        let args = qemu.args(&zygote_boot).join(" ");
        assert!(args.contains("acpi=off,memory-backend=ram "));
        assert!(args.contains(
            "-object memory-backend-file,id=ram,size=256M,mem-path=/w/q,,1/memory,share=on"
        ));
        assert!(!args.contains("-incoming"));

        let mut restore = spec();
        restore.disks.insert(
            0,
            DiskSpec {
                path: "/c/config.img".into(),
                serial: hull_protocol::CONFIG_DISK_SERIAL.into(),
                read_only: false,
            },
        );
        restore.restore = Some(warm::Zygote {
            dir: "/w/q,1".into(),
            cmdline: "quiet hull.warm=park".into(),
            layer_slots: 2,
        });
        let restored = effective_spec(&restore).unwrap();
        let args = qemu.args(&restored).join(" ");
        assert!(args.contains(
            "-object memory-backend-file,id=ram,size=256M,mem-path=/w/q,,1/memory,share=off"
        ));
        assert!(args.contains("-incoming defer"));
        assert!(args.contains("-append quiet hull.warm=park"));
    }

    /// A warm-pool VM outlives the process that starts it: QEMU records its pid at once.
    #[test]
    fn a_pool_vm_writes_its_pid_file() {
        let qemu = Qemu {
            accel_kvm: false,
            vhost_net: false,
        };
        assert!(!qemu.args(&spec()).join(" ").contains("-pidfile"));
        let mut pool_vm = spec();
        pool_vm.rehearse = true;
        assert!(qemu
            .args(&pool_vm)
            .join(" ")
            .contains("-pidfile /run/x/qemu.pid"));
    }

    #[test]
    fn kvm_acceleration_is_selectable() {
        let args = Qemu {
            accel_kvm: true,
            vhost_net: false,
        }
        .args(&spec())
        .join(" ");
        assert!(args.contains("-accel kvm"));
    }

    #[test]
    fn nics_are_taps_passed_by_fd_with_vhost_where_the_host_has_it() {
        let tap = std::sync::Arc::new(std::os::fd::OwnedFd::from(
            std::fs::File::open("/dev/null").unwrap(),
        ));
        let mut spec = spec();
        spec.nics = vec![crate::vm::NicSpec {
            tap: Some(tap),
            mac: "02:42:ac:11:00:02".into(),
        }];
        let args = |vhost_net| {
            Qemu {
                accel_kvm: false,
                vhost_net,
            }
            .args(&spec)
            .join(" ")
        };
        assert!(args(false).contains(
            "-netdev tap,id=n0,fd=3,vhost=off -device virtio-net-device,netdev=n0,mac=02:42:ac:11:00:02"
        ));
        assert!(args(true).contains("tap,id=n0,fd=3,vhost=on"));
        assert!(!Qemu {
            accel_kvm: false,
            vhost_net: false
        }
        .args(&super::tests::spec())
        .join(" ")
        .contains("-netdev"));
    }
}
