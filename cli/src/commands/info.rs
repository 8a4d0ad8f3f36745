//! `hull info`: what this host offers for VMs, what `hull run` will use, and why (gathered by
//! `hull_engine::system::host_info`), as a table or JSON.

use crate::args::Globals;
use anyhow::Result;
use hull_engine::host::{EngineKind, KvmKind};
use hull_engine::system::host_info::HostInfo;

/// `hull info` flags.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// Prints host facts and the engine choice.
pub fn run(args: InfoArgs, globals: &Globals) -> Result<()> {
    let report = hull_engine::system::host_info::gather(&globals.root, globals.vmm);
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

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

fn render(report: &HostInfo) -> String {
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
    line("Version:", report.version);
    out
}

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
mod tests {
    use super::*;
    use hull_engine::system::host_info::{EngineReport, GuestReport, KvmReport};

    fn report(kind: KvmKind, detected: KvmKind, rate: Option<f64>) -> HostInfo {
        HostInfo {
            kvm: KvmReport {
                kind,
                detected,
                reason: "kvm_pvm module loaded".into(),
                self_test_instructions_per_sec: rate,
                self_test_error: None,
            },
            qemu: Some("/usr/bin/qemu-system-x86_64".into()),
            engine: EngineReport {
                selected: EngineKind::Qemu,
                qemu_accel: "tcg",
                source: "default",
                default: EngineKind::Qemu,
                default_reason: "KVM here only emulates".into(),
            },
            guest: GuestReport {
                kernel_profile: "standard".into(),
                kernel: Some("/var/cache/hull/kernel/standard-00/vmlinux".into()),
                kernel_built: false,
                kernel_error: None,
                init: None,
                init_error: None,
            },
            root: "/var/lib/hull".into(),
            cache: "/var/cache/hull".into(),
            network_outbound: "none: turned off".into(),
            version: "0.1.0",
        }
    }

    #[test]
    fn table_names_the_kind_rate_and_engine() {
        let text = render(&report(
            KvmKind::EmulationOnly,
            KvmKind::EmulationOnly,
            Some(1.6e6),
        ));
        assert!(text.contains("KVM:             emulation-only"), "{text}");
        assert!(text.contains("1.6 M guest ring-0 instructions/s"), "{text}");
        assert!(text.contains("-accel tcg"), "{text}");
        assert!(!text.contains("contradicts"), "{text}");
        assert!(text.contains("Outbound:        none: "), "{text}");
        assert!(
            text.contains("standard-00/vmlinux (not built yet"),
            "{text}"
        );
    }

    #[test]
    fn a_measurement_that_contradicts_the_signs_is_called_out() {
        let text = render(&report(
            KvmKind::EmulationOnly,
            KvmKind::Hardware,
            Some(2e6),
        ));
        assert!(text.contains("contradicts"), "{text}");
    }

    #[test]
    fn rates_are_human() {
        assert_eq!(human_rate(2.5e9), "2.5 G");
        assert_eq!(human_rate(1.64e6), "1.6 M");
        assert_eq!(human_rate(900e3), "900 k");
    }
}
