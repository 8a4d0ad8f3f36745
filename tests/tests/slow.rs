//! Slow tier: `cargo test -p hull-tests -- --ignored` (needs /dev/kvm and the pvm-compat
//! kernel build; tens of seconds per VM on an emulation-only KVM).

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stdout};
use std::time::Instant;

#[test]
#[ignore = "slow tier: hull-vmm on emulation-only KVM takes tens of seconds"]
fn hull_vmm_runs_a_container_end_to_end() {
    let Some(hull) = setup("hull_vmm_runs_a_container_end_to_end") else {
        return;
    };
    if !std::path::Path::new("/dev/kvm").exists() {
        eprintln!("SKIPPED hull_vmm_runs_a_container_end_to_end: no /dev/kvm");
        return;
    }
    let started = Instant::now();
    let mut command = hull.cmd(&[
        "run",
        "--vmm",
        "hull",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo hull-vmm says hi; uname -sr; exit 5",
    ]);
    // The compatibility kernel: the harness's HULL_KERNEL is the standard one.
    command.env_remove("HULL_KERNEL").env_remove("HULL_VMM");
    if let Some(kernel) = std::env::var_os("HULL_COMPAT_KERNEL") {
        command.env("HULL_KERNEL", kernel);
    }
    let out = command.output().unwrap();
    eprintln!("hull-vmm run took {:?}", started.elapsed());
    assert_eq!(
        out.status.code(),
        Some(5),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = stdout(&out);
    assert!(
        out.starts_with("hull-vmm says hi\nLinux 6.1."),
        "container output through hull-vmm's virtio-console: {out:?}"
    );
}
