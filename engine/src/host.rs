//! What this host offers for running VMs, and which engine a plain `hull run` uses.
//!
//! Detection is cheap and static (files under /sys and /proc); `hull info` adds a measured
//! CPL0 instruction rate on top (see `commands::info`).

use serde::Serialize;
use std::path::Path;

/// The kind of KVM this host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvmKind {
    /// Hardware virtualization (VMX or SVM): guests run at native speed.
    Hardware,
    /// /dev/kvm exists but guest kernel code is emulated (nested PVM): usable, very slow.
    EmulationOnly,
    /// No usable /dev/kvm.
    Absent,
}

/// A VM engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// hull-vmm, our own VMM (needs /dev/kvm).
    Hull,
    /// qemu-system-x86_64 -M microvm (KVM when hardware-accelerated, TCG otherwise).
    Qemu,
}

impl EngineKind {
    /// Every engine, in the order `--vmm` lists them.
    pub const ALL: [EngineKind; 2] = [EngineKind::Hull, EngineKind::Qemu];

    /// The engine's name on the command line and in `state.json` ("hull", "qemu").
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Hull => "hull",
            EngineKind::Qemu => "qemu",
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;

    /// Case-insensitive, like the command line always accepted.
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("invalid engine {text:?}: use hull or qemu"))
    }
}

/// Static facts about the host.
#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    /// Kind of KVM.
    pub kvm: KvmKind,
    /// Why `kvm` was classified so.
    pub kvm_reason: String,
    /// Path of qemu-system-x86_64, if installed.
    pub qemu: Option<String>,
}

impl HostFacts {
    /// Reads /dev/kvm, /sys/module and /proc/cpuinfo.
    pub fn detect() -> Self {
        let (kvm, kvm_reason) = classify_kvm(
            Path::new("/dev/kvm").exists(),
            Path::new("/sys/module/kvm_pvm").exists(),
            &std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default(),
        );
        Self {
            kvm,
            kvm_reason,
            qemu: find_in_path("qemu-system-x86_64"),
        }
    }

    /// The engine a plain `hull run` uses, and why.
    pub fn default_engine(&self) -> (EngineKind, String) {
        match self.kvm {
            KvmKind::Hardware => (
                EngineKind::Hull,
                "KVM is hardware-accelerated: hull-vmm boots the guest directly".into(),
            ),
            KvmKind::EmulationOnly => (
                EngineKind::Qemu,
                "KVM here interprets guest kernel code, so QEMU's TCG boots faster; \
                 --vmm hull selects hull-vmm with the emulation-only compatibility kernel"
                    .into(),
            ),
            KvmKind::Absent => (
                EngineKind::Qemu,
                "no /dev/kvm: QEMU with software emulation (TCG)".into(),
            ),
        }
    }
}

/// Classifies KVM from what the host shows. Pure, so it is unit-tested.
pub fn classify_kvm(dev_kvm: bool, pvm_module: bool, cpuinfo: &str) -> (KvmKind, String) {
    if !dev_kvm {
        return (KvmKind::Absent, "/dev/kvm does not exist".into());
    }
    let flags = cpuinfo
        .lines()
        .find(|line| line.starts_with("flags"))
        .unwrap_or_default();
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    if pvm_module {
        return (
            KvmKind::EmulationOnly,
            "kvm_pvm module loaded (nested pagetable-based VM): guest CPL0 code is emulated".into(),
        );
    }
    if has("vmx") || has("svm") {
        let what = if has("vmx") { "vmx" } else { "svm" };
        return (
            KvmKind::Hardware,
            format!("CPU has {what}: hardware virtualization"),
        );
    }
    (
        KvmKind::EmulationOnly,
        "/dev/kvm exists but the CPU shows neither vmx nor svm".into(),
    )
}

/// The first executable named `name` in $PATH.
pub fn find_in_path(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .map(|found| found.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvm_module_means_emulation_only() {
        let (kind, why) = classify_kvm(true, true, "flags\t: fpu hypervisor\n");
        assert_eq!(kind, KvmKind::EmulationOnly);
        assert!(why.contains("kvm_pvm"));
    }

    #[test]
    fn vmx_or_svm_means_hardware() {
        assert_eq!(
            classify_kvm(true, false, "flags\t: fpu vmx sse\n").0,
            KvmKind::Hardware
        );
        assert_eq!(
            classify_kvm(true, false, "flags\t: fpu svm\n").0,
            KvmKind::Hardware
        );
    }

    #[test]
    fn no_dev_kvm_means_absent_and_qemu_tcg() {
        let facts = HostFacts {
            kvm: classify_kvm(false, false, "").0,
            kvm_reason: String::new(),
            qemu: None,
        };
        assert_eq!(facts.kvm, KvmKind::Absent);
        assert_eq!(facts.default_engine().0, EngineKind::Qemu);
    }

    #[test]
    fn engine_names_round_trip() {
        for kind in EngineKind::ALL {
            assert_eq!(kind.name().parse::<EngineKind>(), Ok(kind));
        }
        assert_eq!("QEMU".parse::<EngineKind>(), Ok(EngineKind::Qemu));
        assert!("firecracker".parse::<EngineKind>().is_err());
    }

    #[test]
    fn kvm_without_virtualization_flags_is_not_trusted() {
        assert_eq!(
            classify_kvm(true, false, "flags\t: fpu sse2\n").0,
            KvmKind::EmulationOnly
        );
    }
}
