//! Detached containers: run -d, ps, logs, stop, start, rm, wait, kill, and `ps` staying
//! right after the VMM or its supervisor is killed -9.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stdout, wait_until};
use std::time::Duration;

const LOOP: &str = "cat /data 2>/dev/null || echo first-boot > /data; echo up; \
                    trap 'echo bye; exit 3' TERM; while true; do sleep 1; done";

#[test]
fn detached_lifecycle_keeps_the_writable_layer() {
    let Some(hull) = setup("detached_lifecycle_keeps_the_writable_layer") else {
        return;
    };
    let id = hull.ok(&["run", "-d", "--name", "web", "busybox", "sh", "-c", LOOP]);
    assert_eq!(id.trim().len(), 64, "run -d prints the full id");
    let ps = hull.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(ps.contains(" Up ") && ps.contains("web"), "{ps}");
    assert!(wait_until(Duration::from_secs(30), || hull
        .ok(&["logs", "web"])
        .contains("up")));
    assert_eq!(hull.ok(&["logs", "web"]), "up\n");

    hull.ok(&["stop", "web"]);
    assert_eq!(hull.inspect("web", "{{.State.Status}}"), "exited");
    assert_eq!(hull.inspect("web", "{{.State.ExitCode}}"), "3");
    let ps = hull.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (3)"), "{ps}");
    assert_eq!(
        hull.ok(&["ps", "-q"]),
        "",
        "stopped containers are hidden without -a"
    );

    hull.ok(&["start", "web"]);
    assert!(wait_until(Duration::from_secs(30), || hull
        .ok(&["logs", "web"])
        .contains("first-boot")));
    // The file written on the first boot survived: the second boot printed its content.
    assert_eq!(hull.ok(&["logs", "web"]), "up\nbye\nfirst-boot\nup\n");
    assert_eq!(hull.ok(&["logs", "--tail", "1", "web"]), "up\n");

    let rm_running = hull.run(&["rm", "web"]);
    assert_eq!(
        rm_running.status.code(),
        Some(1),
        "rm refuses a running container"
    );
    hull.ok(&["rm", "-f", "web"]);
    assert_eq!(hull.ok(&["ps", "-aq"]), "");
}

#[test]
fn wait_and_kill_report_the_status() {
    let Some(hull) = setup("wait_and_kill_report_the_status") else {
        return;
    };
    // A real death by signal, as in Docker: SIGKILL comes from outside the container's pid
    // namespace (hull-init), so PID 1's immunity does not apply: 128 + 9.
    hull.ok(&["run", "-d", "--name", "k", "busybox", "sleep", "1000"]);
    hull.ok(&["kill", "-s", "KILL", "k"]);
    assert_eq!(hull.ok(&["wait", "k"]), "137\n");
    assert_eq!(hull.inspect("k", "{{.State.ExitCode}}"), "137");
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "w",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 4",
    ]);
    assert_eq!(hull.ok(&["wait", "w"]), "4\n");
    let json = hull.ok(&["ps", "-a", "--format", "json"]);
    assert_eq!(json.lines().count(), 2);
    for line in json.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["State"], "exited");
    }
}

fn kill9(pid: &str) {
    let pid: i32 = pid.parse().expect("a pid");
    // SAFETY: kill(2) with a pid read from hull's own state; no memory is involved.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[test]
fn ps_is_right_after_the_vmm_or_everything_is_killed() {
    let Some(hull) = setup("ps_is_right_after_the_vmm_or_everything_is_killed") else {
        return;
    };
    hull.ok(&["run", "-d", "--name", "v", "busybox", "sleep", "1000"]);
    kill9(&hull.inspect("v", "{{.State.Pid}}"));
    assert!(wait_until(Duration::from_secs(20), || hull
        .ok(&["ps", "-a"])
        .contains("Exited (137)")));
    assert_eq!(hull.inspect("v", "{{.State.Running}}"), "false");

    hull.ok(&["run", "-d", "--name", "all", "busybox", "sleep", "1000"]);
    let supervisor = hull.inspect("all", "{{.Hull.Supervisor}}");
    let vmm = hull.inspect("all", "{{.State.Pid}}");
    kill9(&supervisor);
    kill9(&vmm);
    assert!(wait_until(Duration::from_secs(20), || {
        let out = hull.run(&["ps", "-a", "--format", "json"]);
        stdout(&out)
            .lines()
            .any(|l| l.contains("\"Names\":\"all\"") && l.contains("\"State\":\"dead\""))
    }));
    assert_eq!(hull.ok(&["ps", "-q"]), "", "nothing is running any more");
    hull.ok(&["start", "all"]);
    assert_eq!(hull.inspect("all", "{{.State.Running}}"), "true");
    hull.ok(&["rm", "-f", "all", "v"]);
}
