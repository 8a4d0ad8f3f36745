//! Slow tier: `cargo test -p hull-tests -- --ignored` (needs /dev/kvm and the pvm-compat
//! kernel build; tens of seconds per VM on an emulation-only KVM).

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{http_get, setup, stderr, stdout, wait_until, Hull, Terminal};
use std::time::{Duration, Instant};

/// How long a hull-vmm container may take to boot here (~30 s when the host is idle; a
/// loaded host stretches emulated ring-0 code a lot).
const BOOT_TIMEOUT: Duration = Duration::from_secs(170);

/// A [`Hull`] for a hull-vmm test, or None after printing why it is skipped.
fn setup_hull_vmm(test: &str) -> Option<Hull> {
    let hull = setup(test)?;
    if !std::path::Path::new("/dev/kvm").exists() {
        eprintln!("SKIPPED {test}: no /dev/kvm");
        return None;
    }
    Some(hull)
}

#[test]
#[ignore = "slow tier: hull-vmm on emulation-only KVM takes tens of seconds"]
fn hull_vmm_keeps_stdout_stderr_and_the_exit_status_apart() {
    let test = "hull_vmm_keeps_stdout_stderr_and_the_exit_status_apart";
    let Some(hull) = setup_hull_vmm(test) else {
        return;
    };
    let started = Instant::now();
    let out = hull
        .hull_vmm_cmd(&[
            "run",
            "--vmm",
            "hull",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "cat /etc/os-release; echo out; echo err >&2; exit 5",
        ])
        .output()
        .unwrap();
    eprintln!("hull-vmm run took {:?}", started.elapsed());
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(5), "stderr: {err_text}");
    // hvc0 carries stdout only, hvc1 stderr only (hull-vmm's console sockets).
    assert!(
        out_text.starts_with("NAME=\"BusyBox\"\nID=busybox\n"),
        "the image's /etc/os-release: {out_text}; stderr: {err_text}"
    );
    assert!(out_text.ends_with("\nout\n"), "stderr: {err_text}");
    // hull's own progress lines (a first-use kernel build) may precede the container's.
    let container_err: Vec<&str> = err_text
        .lines()
        .filter(|line| !line.starts_with("[kernel "))
        .collect();
    assert_eq!(
        container_err,
        ["err"],
        "stdout: {out_text}; stderr: {err_text}"
    );
}

#[test]
#[ignore = "slow tier: hull-vmm on emulation-only KVM takes tens of seconds"]
fn hull_vmm_exec_and_stop_go_through_the_control_console() {
    let test = "hull_vmm_exec_and_stop_go_through_the_control_console";
    let Some(hull) = setup_hull_vmm(test) else {
        return;
    };
    let started = Instant::now();
    let out = hull
        .hull_vmm_cmd(&[
            "run",
            "--vmm",
            "hull",
            "-d",
            "--name",
            "trapper",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo trapped; while true; do sleep 1; done",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    // SIGTERM before the trap is set would kill the shell (143): wait for it.
    assert!(
        wait_until(BOOT_TIMEOUT, || stdout(&hull.run(&["logs", "trapper"]))
            .contains("trapped")),
        "the container never started: {}",
        hull.ok(&["ps", "-a"])
    );
    let booted = started.elapsed();
    // `hull exec` sessions are multiplexed over hull-vmm's hvc2 as over QEMU's.
    let exec_started = Instant::now();
    let exec = hull.run(&[
        "exec",
        "trapper",
        "sh",
        "-c",
        "cat /etc/os-release; echo to-stderr >&2; exit 7",
    ]);
    eprintln!("hull-vmm: exec took {:?}", exec_started.elapsed());
    assert_eq!(exec.status.code(), Some(7), "exec: {}", stderr(&exec));
    assert!(stdout(&exec).contains("ID=busybox\n"), "{}", stdout(&exec));
    assert_eq!(stderr(&exec), "to-stderr\n");
    // A generous grace period: a VMM kill (what `stop` falls back to) would show as 137.
    let stop = Instant::now();
    hull.ok(&["stop", "-t", "120", "trapper"]);
    eprintln!(
        "hull-vmm: container up after {booted:?}, stopped {:?} after `hull stop`",
        stop.elapsed()
    );
    assert_eq!(hull.inspect("trapper", "{{.State.ExitCode}}"), "42");
    assert!(
        hull.ok(&["ps", "-a"]).contains("Exited (42)"),
        "{}",
        hull.ok(&["ps", "-a"])
    );
    hull.ok(&["rm", "trapper"]);
}

#[test]
#[ignore = "slow tier: hull-vmm on emulation-only KVM takes tens of seconds"]
fn hull_vmm_tty_gets_the_host_size_and_its_resizes() {
    let test = "hull_vmm_tty_gets_the_host_size_and_its_resizes";
    let Some(hull) = setup_hull_vmm(test) else {
        return;
    };
    let status_file = hull.root.path().join("status");
    let kernel = std::env::var_os("HULL_COMPAT_KERNEL")
        .map(|k| format!("HULL_KERNEL={} ", k.to_string_lossy()))
        .unwrap_or_default();
    let command = format!(
        "env -u HULL_KERNEL -u HULL_VMM HULL_ROOT={} HULL_INIT={} {kernel}{} \
         run --vmm hull -it --rm busybox sh; echo $? > {}; sleep 60",
        hull.root.path().display(),
        hull_tests::init().expect("setup checked it").display(),
        hull.bin.display(),
        status_file.display()
    );
    let Some(term) = Terminal::start(test, &command, 100, 30) else {
        return;
    };
    let screen = || term.screen();
    let keys = |keys: &[&str]| term.keys(keys);
    let started = Instant::now();
    assert!(
        wait_until(BOOT_TIMEOUT, || screen().contains("/ #")),
        "no prompt: {}",
        screen()
    );
    eprintln!("hull-vmm -it: prompt after {:?}", started.elapsed());
    keys(&["stty size", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(30), || screen().contains("30 100")),
        "{}",
        screen()
    );
    term.resize(120, 40);
    std::thread::sleep(Duration::from_millis(500));
    keys(&["stty size", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(30), || screen().contains("40 120")),
        "the resize reaches the guest over hvc2: {}",
        screen()
    );
    keys(&["exit 3", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(60), || status_file.exists()),
        "{}",
        screen()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&status_file).unwrap().trim(), "3");
}

#[test]
#[ignore = "slow tier: hull-vmm on emulation-only KVM takes tens of seconds"]
fn hull_vmm_pause_parks_the_vcpus_until_unpause() {
    let test = "hull_vmm_pause_parks_the_vcpus_until_unpause";
    let Some(hull) = setup_hull_vmm(test) else {
        return;
    };
    let counter = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.5; done";
    let out = hull
        .hull_vmm_cmd(&[
            "run", "--vmm", "hull", "-d", "--name", "count", "busybox", "sh", "-c", counter,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let lines = || hull.ok(&["logs", "count"]).lines().count();
    assert!(
        wait_until(BOOT_TIMEOUT, || lines() >= 2),
        "the container never started: {}",
        hull.ok(&["ps", "-a"])
    );
    // hull-vmm's control socket parks every vCPU: not one more line in 5 s (10 periods).
    let paused = Instant::now();
    assert_eq!(hull.ok(&["pause", "count"]), "count\n");
    eprintln!("hull-vmm: pause took {:?}", paused.elapsed());
    assert_eq!(hull.inspect("count", "{{.State.Status}}"), "paused");
    let frozen = lines();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(lines(), frozen, "the guest ran while paused");
    hull.ok(&["unpause", "count"]);
    assert!(
        wait_until(Duration::from_secs(60), || lines() > frozen + 1),
        "the guest never resumed"
    );
    // A paused VM still stops at once (the vCPU threads leave their park on stop).
    hull.ok(&["pause", "count"]);
    hull.ok(&["kill", "count"]);
    assert_eq!(hull.ok(&["wait", "count"]), "137\n");
}

#[test]
#[ignore = "slow tier: hull-vmm on emulation-only KVM takes tens of seconds"]
fn hull_vmm_container_answers_the_host_through_a_published_port() {
    let test = "hull_vmm_container_answers_the_host_through_a_published_port";
    let Some(hull) = setup_hull_vmm(test) else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publish = format!("127.0.0.1:{port}:80");
    let out = hull
        .hull_vmm_cmd(&[
            "run",
            "--vmm",
            "hull",
            "-d",
            "--name",
            "vmmweb",
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            "mkdir /www && echo served-by-hull-vmm > /www/index.html && echo up && \
             exec httpd -f -p 80 -h /www",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let started = Instant::now();
    assert!(
        wait_until(BOOT_TIMEOUT, || stdout(&hull.run(&["logs", "vmmweb"]))
            .contains("up")),
        "the container never started: {}",
        hull.ok(&["ps", "-a"])
    );
    // The host's connection goes through the supervisor's proxy, the tap in hull's
    // network namespace, hull-vmm's virtio-net device and the guest's TCP stack.
    let mut page = String::new();
    let answered = wait_until(BOOT_TIMEOUT, || {
        page = http_get(port).unwrap_or_default();
        page.contains("served-by-hull-vmm")
    });
    eprintln!("hull-vmm: page served {:?} after boot", started.elapsed());
    assert!(answered, "no page through -p: {page:?}");
    assert!(
        page.starts_with("HTTP/1.") && page.contains(" 200 "),
        "{page}"
    );
    hull.ok(&["rm", "-f", "vmmweb"]);
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpListener::bind((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "port {port} still taken after rm -f"
    );
}

#[test]
#[ignore = "slow tier: hull-vmm on emulation-only KVM takes tens of seconds"]
fn hull_vmm_serves_a_bind_mount_and_a_volume_over_vhost_user_fs() {
    let test = "hull_vmm_serves_a_bind_mount_and_a_volume_over_vhost_user_fs";
    let Some(hull) = setup_hull_vmm(test) else {
        return;
    };
    if hull_tests::which("virtiofsd").is_none() {
        eprintln!("SKIPPED {test}: no virtiofsd on PATH");
        return;
    }
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("from-host"), "host data\n").unwrap();
    let bind = format!("{}:/code", host.path().display());
    let script = "cat /code/from-host; echo guest data > /code/from-guest; \
                  echo kept > /data/f; grep -c virtiofs /proc/mounts";
    let out = hull
        .hull_vmm_cmd(&[
            "run",
            "--vmm",
            "hull",
            "--rm",
            "-v",
            &bind,
            "-v",
            "vol:/data",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "host data\n2\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("from-guest")).unwrap(),
        "guest data\n"
    );
    let mountpoint = hull.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "vol"]);
    let kept = std::path::Path::new(mountpoint.trim()).join("f");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "kept\n");
}
