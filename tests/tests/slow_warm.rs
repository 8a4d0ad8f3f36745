//! Slow tier, warm start (issue #19) on hull-vmm: `cargo test --release -p hull-tests --test
//! slow_warm -- --ignored --nocapture` (needs /dev/kvm and the pvm-compat kernel; the
//! zygote's guest boots for tens of seconds on an emulation-only KVM). Prints the wall
//! times of a cold and a warm `hull run`.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{http_get, setup, stderr, stdout, wait_until, with_input, Hull};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// `hull ARGS` on hull-vmm with the compatibility kernel (HULL_COMPAT_KERNEL if set, else
/// hull's own pick for the engine), its zygotes in `zygotes`, warm start on (whatever the
/// caller's HULL_WARM says).
fn hull_vmm(hull: &Hull, zygotes: &Path, args: &[&str]) -> (Output, Duration) {
    let mut command = hull.hull_vmm_cmd(args);
    command
        .env_remove("HULL_WARM")
        .env("HULL_WARM_CACHE", zygotes);
    let started = Instant::now();
    let out = with_input(&mut command, b"");
    (out, started.elapsed())
}

/// The container's stdout, after checking it exited 0.
fn succeeded(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "hull {args:?} exited {:?}: {}",
        out.status.code(),
        stderr(out)
    );
    stdout(out)
}

/// hull-init's last COM1 line of container `name` (`exit status N; CLOCK_BOOTTIME ms:
/// ...`, with `restored=` when its VM was restored from a zygote).
fn boot_marks(hull: &Hull, name: &str) -> String {
    let (log, text) = hull.vm_log(name);
    text.lines()
        .rev()
        .find(|line| line.contains("CLOCK_BOOTTIME ms:"))
        .unwrap_or_else(|| panic!("no boot marks in {}: {text}", log.display()))
        .to_string()
}

/// The zygote directories in `zygotes`.
fn zygote_dirs(zygotes: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(zygotes)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && p.extension().is_none())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "slow tier: a hull-vmm zygote boots for tens of seconds on emulation-only KVM"]
fn hull_vmm_restores_containers_from_a_zygote() {
    let test = "hull_vmm_restores_containers_from_a_zygote";
    let Some(hull) = setup(test) else {
        return;
    };
    if !Path::new("/dev/kvm").exists() {
        eprintln!("SKIPPED {test}: no /dev/kvm");
        return;
    }
    let zygotes = hull.root.path().join("warm");

    // A cold boot, for comparison (and the compat kernel is built here on first use).
    let args = [
        "run", "--vmm", "hull", "--cold", "--name", "cold", "busybox", "echo", "cold",
    ];
    let (out, cold) = hull_vmm(&hull, &zygotes, &args);
    assert_eq!(succeeded(&args, &out), "cold\n");
    let marks = boot_marks(&hull, "cold");
    assert!(!marks.contains(" restored="), "--cold boots: {marks}");
    assert!(zygote_dirs(&zygotes).is_empty(), "--cold makes no zygote");

    // The first warm run makes the zygote (a boot of its own, then the save), then is
    // restored from it.
    let args = [
        "run", "--vmm", "hull", "--name", "first", "busybox", "echo", "first",
    ];
    let (out, first) = hull_vmm(&hull, &zygotes, &args);
    let text = succeeded(&args, &out);
    let made = zygote_dirs(&zygotes);
    assert_eq!(
        made.len(),
        1,
        "one zygote made: {made:?}; stderr: {}",
        stderr(&out)
    );
    assert!(made[0].join("state").is_file() && made[0].join("memory").is_file());
    let marks = boot_marks(&hull, "first");
    assert!(
        marks.contains(" restored="),
        "the first container is restored from the zygote it made: {marks}; stderr: {}; \
         engine log: {}",
        stderr(&out),
        std::fs::read_to_string(made[0].join("engine.log")).unwrap_or_default()
    );
    assert_eq!(text, "first\n");

    // Then every run is a restore.
    let args = ["run", "--vmm", "hull", "--rm", "busybox", "echo", "hi"];
    let (out, warm_rm) = hull_vmm(&hull, &zygotes, &args);
    assert_eq!(succeeded(&args, &out), "hi\n");
    let args = [
        "run",
        "--vmm",
        "hull",
        "--name",
        "second",
        "busybox",
        "sh",
        "-c",
        // sleep: the restored guest's timers fire (its TSC deadline comes back armed).
        "sleep 1; echo $((6 * 7)) $(hostname); exit 3",
    ];
    let (out, warm) = hull_vmm(&hull, &zygotes, &args);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    let id = hull.inspect("second", "{{.Id}}");
    assert_eq!(
        stdout(&out),
        format!("42 {}\n", &id[..12]),
        "its own hostname"
    );
    let marks = boot_marks(&hull, "second");
    assert!(marks.contains(" restored="), "{marks}");
    assert_eq!(zygote_dirs(&zygotes), made, "the zygote is kept and reused");

    // The zygote's NIC had no backend; a restore's is the container's tap: a published
    // port reaches the restored guest's TCP stack, and its NIC has the container's MAC.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publish = format!("127.0.0.1:{port}:80");
    let args = [
        "run",
        "--vmm",
        "hull",
        "-d",
        "--name",
        "web",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo served-by-a-restore > /www/index.html && echo up && \
         exec httpd -f -p 80 -h /www",
    ];
    let (out, _) = hull_vmm(&hull, &zygotes, &args);
    succeeded(&args, &out);
    let started = Instant::now();
    let mut page = String::new();
    let answered = wait_until(Duration::from_secs(120), || {
        page = http_get(port).unwrap_or_default();
        page.contains("served-by-a-restore")
    });
    eprintln!(
        "restored web container: page served {:?} after `run -d`",
        started.elapsed()
    );
    assert!(answered, "no page through -p: {page:?}");
    let mac = hull.inspect("web", "{{.NetworkSettings.Networks.bridge.MacAddress}}");
    let (out, _) = hull_vmm(
        &hull,
        &zygotes,
        &["exec", "web", "cat", "/sys/class/net/eth0/address"],
    );
    assert_eq!(
        stdout(&out).trim(),
        mac,
        "the container's MAC: {}",
        stderr(&out)
    );
    // hull-init prints its boot marks when the container ends.
    let (out, _) = hull_vmm(&hull, &zygotes, &["stop", "-t", "1", "web"]);
    succeeded(&["stop"], &out);
    assert!(boot_marks(&hull, "web").contains(" restored="));
    hull.ok(&["rm", "-f", "web"]);
    assert_eq!(zygote_dirs(&zygotes), made, "one zygote for all of them");

    eprintln!(
        "hull-vmm wall times: cold run {cold:.1?}; first warm run (makes the zygote) \
         {first:.1?}; warm --rm run {warm_rm:.1?}; warm run {warm:.1?}"
    );
    eprintln!("restored guest's boot marks: {marks}");
}
