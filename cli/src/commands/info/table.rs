//! `hull info`'s table: the host report with a line per fact, each choice with its reason.

use hull_engine::host::{EngineKind, KvmKind};
use hull_engine::system::host_info::HostInfo;

fn kind_text(kind: KvmKind) -> &'static str {
    match kind {
        KvmKind::Hardware => "hardware-accelerated",
        KvmKind::EmulationOnly => "emulation-only",
        KvmKind::Absent => "absent",
    }
}

fn engine_text(engine: EngineKind, accel: &str) -> String {
    match engine {
        EngineKind::Hull => "hull-vmm".to_string(),
        EngineKind::Qemu => format!("qemu (qemu-system-x86_64 -M microvm -accel {accel})"),
    }
}

/// The table: one ` KEY:  value` line per fact, the why of each choice under it.
pub(super) fn render(report: &HostInfo) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| out.push_str(&format!(" {key:<16} {value}\n"));
    let kvm = &report.kvm;
    line("KVM:", kind_text(kvm.kind));
    line("  signs:", &kvm.reason);
    match (kvm.self_test_instructions_per_sec, &kvm.self_test_error) {
        (Some(rate), _) => line(
            "  self-test:",
            &format!(
                "{} guest ring-0 instructions/s (hardware: > {:.0} M/s)",
                human_rate(rate),
                hull_vmm::kvm_probe::HARDWARE_THRESHOLD_INSTR_PER_SEC / 1e6
            ),
        ),
        (None, Some(err)) => line("  self-test:", &format!("failed: {err}")),
        (None, None) => line("  self-test:", "skipped (no /dev/kvm)"),
    }
    if kvm.kind != kvm.detected {
        line(
            "  note:",
            &format!(
                "the self-test contradicts the static signs ({}); trusting the measurement",
                kind_text(kvm.detected)
            ),
        );
    }
    line(
        "QEMU:",
        report
            .qemu
            .as_deref()
            .unwrap_or("not installed (apt-get install qemu-system-x86)"),
    );
    let engine = &report.engine;
    line(
        "Engine:",
        &format!(
            "{} [{}]",
            engine_text(engine.selected, engine.qemu_accel),
            engine.source
        ),
    );
    if engine.selected == engine.default {
        line("  why:", &engine.default_reason);
    } else {
        line(
            "  default:",
            &format!(
                "{}: {}",
                engine_text(engine.default, engine.qemu_accel),
                engine.default_reason
            ),
        );
    }
    line("  choose:", "--vmm hull|qemu or HULL_VMM=hull|qemu");
    line("Kernel profile:", &report.guest.kernel_profile);
    let guest = &report.guest;
    match (&guest.kernel, &guest.kernel_error) {
        (Some(path), _) if guest.kernel_built => line("Kernel:", &path.display().to_string()),
        (Some(path), _) => line(
            "Kernel:",
            &format!(
                "{} (not built yet: the first run builds it from linux-source-6.1, ~4 min)",
                path.display()
            ),
        ),
        (None, Some(err)) => line("Kernel:", &format!("unavailable: {err}")),
        (None, None) => {}
    }
    match (&report.guest.init, &report.guest.init_error) {
        (Some(path), _) => line("Guest init:", &path.display().to_string()),
        (None, Some(err)) => line("Guest init:", &format!("missing: {err}")),
        (None, None) => {}
    }
    line("Root:", &report.root.display().to_string());
    line("Cache:", &report.cache.display().to_string());
    line("Outbound:", &report.network_outbound);
    line("Warm start:", &report.warm_start);
    line("Version:", report.version);
    out
}

/// `1.6 M`: the self-test's instructions per second, in G, M or k.
fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e9 {
        format!("{:.1} G", per_sec / 1e9)
    } else if per_sec >= 1e6 {
        format!("{:.1} M", per_sec / 1e6)
    } else {
        format!("{:.0} k", per_sec / 1e3)
    }
}

#[cfg(test)]
mod tests;
