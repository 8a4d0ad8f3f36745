//! Memory as Docker users expect (issue 22): an OOM kills the process that ran out, fast,
//! and the rest of the container goes on; `OOMKilled` only for the main process; `-m` is
//! the limit `inspect` reports. (The main process OOM-killed: `resources.rs`.)

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, stdout};
use std::time::{Duration, Instant};

/// The 1-minute load average per core, when readable.
fn load_per_core() -> Option<f64> {
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let cores = std::thread::available_parallelism().ok()?.get();
    #[allow(clippy::cast_precision_loss)]
    Some(load / cores as f64)
}

#[test]
fn oom_kills_the_child_that_ran_out_within_seconds_and_the_shell_goes_on() {
    let Some(hull) = setup("oom_kills_the_child_that_ran_out_within_seconds_and_the_shell_goes_on")
    else {
        return;
    };
    hull.ok(&["image", "bootstrap", "busybox"]);
    let started = Instant::now();
    let out = hull.run(&[
        "run",
        "--name",
        "sorter",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "head -c 150m /dev/zero | sort >/dev/null; echo sort=$?",
    ]);
    let elapsed = started.elapsed();
    assert_eq!(stdout(&out), "sort=137\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // A killed child is not the container's OOM kill (Docker's OOMKilled).
    assert_eq!(hull.inspect("sorter", "{{.State.OOMKilled}}"), "false");
    // The bound is 5 s on this 2-core machine; TCG slows down with the host's load,
    // so on a host busy with other work the bound is loosened (and says so).
    let limit = match load_per_core() {
        Some(load) if load > 1.5 => {
            eprintln!("host load {load:.1} per core: allowing 30 s instead of 5 s");
            Duration::from_secs(30)
        }
        _ => Duration::from_secs(5),
    };
    assert!(
        elapsed < limit,
        "took {elapsed:?} (before issue 22: 15 s - 3 min)"
    );
}

#[test]
fn inspect_reports_the_limit_asked_and_zero_without_one() {
    let Some(hull) = setup("inspect_reports_the_limit_asked_and_zero_without_one") else {
        return;
    };
    hull.ok(&["image", "bootstrap", "busybox"]);
    hull.ok(&[
        "create", "--name", "limited", "-m", "64m", "busybox", "true",
    ]);
    assert_eq!(
        hull.inspect("limited", "{{.HostConfig.Memory}}"),
        "67108864"
    );
    // No swap in the VM: memory+swap is the limit.
    assert_eq!(
        hull.inspect("limited", "{{.HostConfig.MemorySwap}}"),
        "67108864"
    );
    hull.ok(&["create", "--name", "unlimited", "busybox", "true"]);
    assert_eq!(hull.inspect("unlimited", "{{.HostConfig.Memory}}"), "0");
    // The VM: the limit + limit/64 + 48 MiB for the guest; 256 MiB by default.
    assert_eq!(hull.inspect("limited", "{{.Hull.VmMemoryMiB}}"), "113");
    assert_eq!(hull.inspect("unlimited", "{{.Hull.VmMemoryMiB}}"), "256");
    // Docker's checks on --memory-swap.
    let out = hull.run(&[
        "create",
        "-m",
        "64m",
        "--memory-swap",
        "32m",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}
