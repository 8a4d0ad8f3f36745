//! hull-vmm, our own VMM, with the same guest as the QEMU engine: three virtio-console
//! devices (hvc0 stdio/tty, hvc1 stderr, hvc2 control) on unix sockets hull-vmm listens
//! on (`--virtio-console socket=PATH`). hull-vmm starts the vCPUs only once hull has
//! connected all three, so not a byte of output is lost, and the guest's `ready` handshake,
//! separate stderr and signals over hvc2 work as they do under QEMU.

use super::{
    connect_consoles, console_socket, prepare_socket_dir, Engine, RunningVm, VmSpec, CONSOLE_PORTS,
};
use crate::host::EngineKind;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The hull-vmm engine.
pub struct HullVmm {
    /// KVM here only emulates guest kernel code: show the guest an Intel CPU (keeps Linux
    /// off AMD's x87 FXSAVE_LEAK path, which that KVM cannot emulate).
    pub emulated_kvm: bool,
}

impl HullVmm {
    /// hull-vmm's arguments for `spec` (pure: unit-tested).
    pub fn args(&self, spec: &VmSpec) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--kernel".to_string(),
            spec.kernel.display().to_string(),
            "--initrd".into(),
            spec.initramfs.display().to_string(),
            "--cmdline".into(),
            spec.cmdline.clone(),
            "--mem-mib".into(),
            spec.mem_mib.to_string(),
            "--cpus".into(),
            spec.cpus.to_string(),
            "--serial-out".into(),
            spec.serial_log.display().to_string(),
        ];
        if self.emulated_kvm {
            args.push("--cpu-vendor".into());
            args.push("intel".into());
        } else {
            // Free page reporting gives freed guest memory back (issue 22). Not under
            // emulation-only KVM: the guest's reporting worker would be emulated CPL0 work
            // every 2 s, for test VMs that live seconds.
            args.push("--balloon".into());
        }
        for disk in &spec.disks {
            let ro = if disk.read_only { ":ro" } else { "" };
            args.push("--disk".into());
            args.push(format!(
                "{}{ro},serial={}",
                disk.path.display(),
                disk.serial
            ));
        }
        // Attach order is the guest's hvcN order.
        for port in CONSOLE_PORTS {
            args.push("--virtio-console".into());
            args.push(format!(
                "socket={}",
                console_socket(&spec.socket_dir, port).display()
            ));
        }
        args
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
        let log = File::create(&spec.engine_log)
            .with_context(|| format!("cannot create {}", spec.engine_log.display()))?;
        // COM1 goes to the serial log file; stdin and stdout carry nothing.
        let mut child = Command::new(&binary)
            .args(self.args(spec))
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
    fn arguments_carry_disks_and_three_socket_consoles_in_port_order() {
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
        };
        let args = HullVmm { emulated_kvm: true }.args(&spec).join(" ");
        assert!(args.contains("--disk /l.erofs:ro,serial=hull-layer-0"));
        assert!(args.contains("--serial-out /tmp/vm.log"));
        assert!(!args.contains("--console"), "no stdio console: {args}");
        assert!(args.ends_with(
            "--virtio-console socket=/run/x/hvc0.sock \
             --virtio-console socket=/run/x/hvc1.sock \
             --virtio-console socket=/run/x/hvc2.sock"
        ));
        assert!(args.contains("--cpu-vendor intel"));
        assert!(!args.contains("--balloon"), "no balloon under emulated KVM");
        let native = HullVmm {
            emulated_kvm: false,
        }
        .args(&spec)
        .join(" ");
        assert!(!native.contains("--cpu-vendor"));
        assert!(native.contains("--balloon"));
    }
}
