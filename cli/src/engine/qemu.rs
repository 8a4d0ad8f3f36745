//! QEMU `-M microvm` with the same virtio-mmio devices hull-vmm offers. The three console
//! ports are unix sockets QEMU listens on with `wait=on`: QEMU does not start the guest
//! until hull has connected all three, so not a byte of output is lost.

use super::{log_tail, Consoles, Engine, RunningVm, VmSpec};
use crate::host::EngineKind;
use anyhow::{bail, Context, Result};
use hull_protocol::{CONSOLE_CONTROL, CONSOLE_STDERR, CONSOLE_STDIO};
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The QEMU engine.
pub struct Qemu {
    /// `-accel kvm` (hardware KVM) instead of `-accel tcg`.
    pub accel_kvm: bool,
}

/// How long QEMU may take to create its sockets before we give up.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// The console ports in virtconsole `nr` order (hvc0, hvc1, hvc2).
const PORTS: [&str; 3] = [CONSOLE_STDIO, CONSOLE_STDERR, CONSOLE_CONTROL];

impl Qemu {
    /// The full QEMU argument list for `spec` (pure: unit-tested).
    pub fn args(&self, spec: &VmSpec) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-M".into(),
            // acpi=off: QEMU then announces the virtio-mmio devices on the kernel command line
            // (the guest kernel has no ACPI). rtc=on: without a CMOS RTC the kernel's boot-time
            // wall-clock read polls port 0x70 for ~1 s ("Unable to read current time from
            // RTC"); measured here, a bare boot takes 1.3 s with rtc=off and 0.27 s with it.
            "microvm,x-option-roms=off,rtc=on,acpi=off".into(),
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
            "-serial".into(),
            format!("file:{}", spec.serial_log.display()),
            "-device".into(),
            "isa-debug-exit,iobase=0xf4,iosize=4".into(),
        ];
        for (index, disk) in spec.disks.iter().enumerate() {
            let readonly = if disk.read_only { ",readonly=on" } else { "" };
            args.push("-drive".into());
            args.push(format!(
                "id=d{index},file={},format=raw,if=none{readonly}",
                qemu_escape(&disk.path)
            ));
            args.push("-device".into());
            args.push(format!(
                "virtio-blk-device,drive=d{index},serial={}",
                disk.serial
            ));
        }
        args.push("-device".into());
        args.push("virtio-serial-device,max_ports=4".into());
        for (nr, port) in PORTS.iter().enumerate() {
            args.push("-chardev".into());
            args.push(format!(
                "socket,id={port},path={},server=on,wait=on",
                qemu_escape(&socket_path(&spec.socket_dir, port))
            ));
            args.push("-device".into());
            args.push(format!("virtconsole,chardev={port},nr={nr}"));
        }
        args
    }
}

impl Engine for Qemu {
    fn kind(&self) -> EngineKind {
        EngineKind::Qemu
    }

    fn spawn(&self, spec: &VmSpec) -> Result<RunningVm> {
        std::fs::create_dir_all(&spec.socket_dir)?;
        for port in PORTS {
            let _ = std::fs::remove_file(socket_path(&spec.socket_dir, port));
        }
        let engine_log = File::create(&spec.engine_log)
            .with_context(|| format!("cannot create {}", spec.engine_log.display()))?;
        let mut child = Command::new("qemu-system-x86_64")
            .args(self.args(spec))
            .stdin(Stdio::null())
            .stdout(engine_log.try_clone()?)
            .stderr(engine_log)
            .process_group(0)
            .spawn()
            .context("cannot start qemu-system-x86_64: install it (apt-get install qemu-system-x86) or use --vmm hull")?;
        let mut streams = Vec::new();
        for port in PORTS {
            match connect(
                &mut child,
                &socket_path(&spec.socket_dir, port),
                &spec.engine_log,
            ) {
                Ok(stream) => streams.push(stream),
                Err(err) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(err);
                }
            }
        }
        let [stdio, stderr, control]: [UnixStream; 3] = streams
            .try_into()
            .map_err(|_| anyhow::anyhow!("expected three console sockets"))?;
        // The sockets are connected: their paths are no longer needed.
        for port in PORTS {
            let _ = std::fs::remove_file(socket_path(&spec.socket_dir, port));
        }
        let consoles = Consoles {
            stdio_in: Box::new(stdio.try_clone()?),
            stdio_out: Box::new(stdio),
            stderr: Some(Box::new(stderr)),
            control: Some(Box::new(control.try_clone()?)),
            events: Some(Box::new(control)),
        };
        Ok(RunningVm { child, consoles })
    }
}

fn socket_path(dir: &Path, port: &str) -> PathBuf {
    dir.join(format!("{port}.sock"))
}

/// Connects to one of QEMU's console sockets as soon as QEMU has created it.
fn connect(child: &mut Child, path: &Path, engine_log: &Path) -> Result<UnixStream> {
    let deadline = Instant::now() + SOCKET_TIMEOUT;
    loop {
        if let Ok(stream) = UnixStream::connect(path) {
            return Ok(stream);
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "qemu-system-x86_64 exited ({status}) before the VM started: {}",
                log_tail(engine_log, 2000)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "qemu-system-x86_64 did not create {} within {SOCKET_TIMEOUT:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// QEMU option values separate on commas; a literal comma is written twice.
fn qemu_escape(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DiskSpec;

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
        }
    }

    #[test]
    fn arguments_follow_the_documented_microvm_layout() {
        let args = Qemu { accel_kvm: false }.args(&spec()).join(" ");
        assert!(args.contains("-M microvm,x-option-roms=off,rtc=on,acpi=off -accel tcg"));
        assert!(args.contains("-append console=ttyS0 quiet"));
        assert!(args.contains("file=/s/layer,,0.erofs,format=raw,if=none,readonly=on"));
        assert!(args.contains("virtio-blk-device,drive=d1,serial=hull-rw"));
        assert!(args.contains("socket,id=hvc2,path=/run/x/hvc2.sock,server=on,wait=on"));
        assert!(args.contains("virtconsole,chardev=hvc1,nr=1"));
        assert!(args.contains("isa-debug-exit,iobase=0xf4,iosize=4"));
        assert!(!args.contains("d1,file=/c/rw.img,format=raw,if=none,readonly"));
    }

    #[test]
    fn kvm_acceleration_is_selectable() {
        let args = Qemu { accel_kvm: true }.args(&spec()).join(" ");
        assert!(args.contains("-accel kvm"));
    }
}
