//! What `hull info` reports: the KVM kind, measured (besides the static signs, vmx/svm flags
//! or the `kvm_pvm` module, a short self-test runs a countdown loop in guest ring 0 on
//! /dev/kvm: hardware KVM runs it at native speed, an emulation-only KVM interprets it at a
//! few million instructions per second), the engine `hull run` uses and why, and where the
//! guest kernel and hull-init are.

use crate::host::{EngineKind, HostFacts, KvmKind};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the KVM self-test may run.
const PROBE_BUDGET: Duration = Duration::from_secs(1);

/// Everything `hull info` reports (also its `--format json` shape).
#[derive(Debug, Serialize)]
pub struct HostInfo {
    pub kvm: KvmReport,
    pub qemu: Option<String>,
    pub engine: EngineReport,
    pub guest: GuestReport,
    pub root: PathBuf,
    pub cache: PathBuf,
    /// What containers' networks reach beyond themselves.
    pub network_outbound: String,
    /// Whether containers are restored from warm-start zygotes, and how many there are.
    pub warm_start: String,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct KvmReport {
    /// The final verdict: the measurement wins over the static signs.
    pub kind: KvmKind,
    /// The static signs' reading.
    pub detected: KvmKind,
    pub reason: String,
    /// Guest ring-0 instructions per second measured on /dev/kvm.
    pub self_test_instructions_per_sec: Option<f64>,
    pub self_test_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EngineReport {
    /// The engine `hull run` uses (after `--vmm`/HULL_VMM).
    pub selected: EngineKind,
    /// QEMU's accelerator when the selected engine is QEMU.
    pub qemu_accel: &'static str,
    /// Where the selection came from.
    pub source: &'static str,
    /// The default engine on this host, and why.
    pub default: EngineKind,
    pub default_reason: String,
}

#[derive(Debug, Serialize)]
pub struct GuestReport {
    pub kernel_profile: String,
    /// The vmlinux the selected engine boots (HULL_KERNEL, or the cached build's place).
    pub kernel: Option<PathBuf>,
    /// Whether that kernel exists (otherwise `hull run` builds it first, ~4 min).
    pub kernel_built: bool,
    pub kernel_error: Option<String>,
    pub init: Option<PathBuf>,
    pub init_error: Option<String>,
}

/// The host's facts, the engine `hull run` would use under `root` with `vmm` (`--vmm`), and
/// why; runs the one-second KVM self-test.
pub fn gather(root: &Path, vmm: Option<EngineKind>) -> HostInfo {
    let facts = HostFacts::detect();
    let kvm = measure_kvm(&facts);
    let (default, default_reason) = facts.default_engine();
    let (selected, source) = match vmm {
        Some(engine) => (engine, "--vmm/HULL_VMM"),
        None => (default, "default"),
    };
    let init = crate::guest::locate_init();
    let profile = crate::guest::profile_for(selected);
    let kernel = hull_kernel::kernel_location(profile);
    HostInfo {
        qemu: facts.qemu.clone(),
        engine: EngineReport {
            selected,
            qemu_accel: if facts.kvm == KvmKind::Hardware {
                "kvm"
            } else {
                "tcg"
            },
            source,
            default,
            default_reason,
        },
        guest: GuestReport {
            kernel_profile: profile.to_string(),
            kernel_built: kernel.as_ref().is_ok_and(|(_, built)| *built),
            kernel_error: kernel.as_ref().err().map(|e| error_chain(e)),
            kernel: kernel.ok().map(|(artifacts, _)| artifacts.vmlinux),
            init_error: init.as_ref().err().map(|e| format!("{e:#}")),
            init: init.ok(),
        },
        root: root.to_path_buf(),
        cache: crate::guest::cache_dir(),
        network_outbound: hull_network::outbound::describe(false),
        warm_start: crate::vm::warm::describe(selected),
        version: env!("CARGO_PKG_VERSION"),
        kvm,
    }
}

/// Static classification refined by the ring-0 self-test.
fn measure_kvm(facts: &HostFacts) -> KvmReport {
    let mut report = KvmReport {
        kind: facts.kvm,
        detected: facts.kvm,
        reason: facts.kvm_reason.clone(),
        self_test_instructions_per_sec: None,
        self_test_error: None,
    };
    if facts.kvm == KvmKind::Absent {
        return report;
    }
    match hull_vmm::kvm_probe::probe_kvm(PROBE_BUDGET) {
        Ok(probe) => {
            report.self_test_instructions_per_sec = Some(probe.instructions_per_sec);
            report.kind = match probe.kind_hint {
                hull_vmm::kvm_probe::KvmKindHint::Hardware => KvmKind::Hardware,
                hull_vmm::kvm_probe::KvmKindHint::EmulationOnly => KvmKind::EmulationOnly,
            };
        }
        Err(err) => {
            report.kind = KvmKind::Absent;
            report.self_test_error = Some(error_chain(&err));
        }
    }
    report
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
