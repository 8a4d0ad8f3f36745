//! `hull info`'s table, drawn from a made-up host report.

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
        warm_start: "on: 1 zygote".into(),
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
