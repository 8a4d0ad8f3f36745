//! `hull info`: the host's kind of KVM, measured, and the engine a plain `hull run` uses.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::hull_binary;
use std::path::Path;
use std::process::Command;

fn info(format: &str) -> Option<std::process::Output> {
    let Some(bin) = hull_binary() else {
        eprintln!("SKIPPED hull info: no hull binary (set HULL_BIN or cargo build -p hull-cli)");
        return None;
    };
    let out = Command::new(bin)
        .args(["info", "--format", format])
        .env_remove("HULL_VMM")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}

#[test]
fn info_json_is_consistent_with_the_host() {
    let Some(out) = info("json") else { return };
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kind = report["kvm"]["kind"].as_str().unwrap();
    let rate = report["kvm"]["self_test_instructions_per_sec"].as_f64();
    let engine = report["engine"]["selected"].as_str().unwrap();
    if !Path::new("/dev/kvm").exists() {
        assert_eq!(kind, "absent");
        assert_eq!(engine, "qemu");
        return;
    }
    // The self-test ran on /dev/kvm and its verdict follows the measured rate.
    let rate = rate.expect("a measured ring-0 instruction rate");
    assert!(rate > 0.0);
    assert_eq!(
        kind == "hardware",
        rate >= 100e6,
        "kind {kind} at {rate} instr/s"
    );
    // A plain `hull run` uses hull-vmm only where KVM runs guest kernels in hardware.
    assert_eq!(engine == "hull", kind == "hardware", "{report:#}");
    if engine == "qemu" {
        assert_eq!(report["engine"]["qemu_accel"], "tcg");
    }
}

#[test]
fn info_reports_this_hosts_emulation_only_pvm_kvm() {
    if !Path::new("/sys/module/kvm_pvm").exists() {
        eprintln!("SKIPPED info_reports_this_hosts_emulation_only_pvm_kvm: not a kvm_pvm host");
        return;
    }
    let Some(out) = info("table") else { return };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("KVM:             emulation-only"), "{text}");
    assert!(text.contains("kvm_pvm"), "{text}");
    assert!(text.contains("guest ring-0 instructions/s"), "{text}");
    assert!(
        text.contains("Engine:          qemu (qemu-system-x86_64 -M microvm -accel tcg) [default]"),
        "{text}"
    );
    assert!(text.contains("--vmm hull"), "{text}");
}
