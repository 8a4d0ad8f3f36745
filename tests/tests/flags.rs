//! run/create flags of issue #21 through the real binary on QEMU: `--restart` (the shim
//! restarts the VM by policy), `--init` (hull-init's tiny init as PID 1), `--cap-add`/
//! `--cap-drop`/`--privileged` (the process's capabilities) and `--add-host` (/etc/hosts).

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, wait_until};
use std::time::{Duration, Instant};

/// The CapEff line of the container's process.
const CAP_EFF: &[&str] = &["sh", "-c", "grep CapEff /proc/self/status"];

fn with_command<'a>(flags: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.push("busybox");
    args.extend_from_slice(command);
    args
}

#[test]
fn capabilities_are_dockers_defaults_adjusted_by_add_drop_and_privileged() {
    let Some(hull) = setup("capabilities_are_dockers_defaults_adjusted_by_add_drop_and_privileged")
    else {
        return;
    };
    let cap_eff = |flags: &[&str]| hull.ok(&with_command(flags, CAP_EFF));
    assert_eq!(cap_eff(&[]), "CapEff:\t00000000a80425fb\n");
    assert_eq!(
        cap_eff(&["--cap-add", "net_admin", "--cap-drop", "CAP_CHOWN"]),
        "CapEff:\t00000000a80435fa\n"
    );
    assert_eq!(cap_eff(&["--privileged"]), "CapEff:\t000001ffffffffff\n");
    // As Docker's: /proc/sys is read-only, except under --privileged (the VM's own kernel).
    let sysctl = [
        "sh",
        "-c",
        "echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo writable",
    ];
    assert_eq!(
        hull.ok(&with_command(&["--privileged"], &sysctl)),
        "writable\n"
    );
    assert_eq!(hull.run(&with_command(&[], &sysctl)).status.code(), Some(1));
    assert_eq!(
        cap_eff(&["--cap-drop", "ALL", "--cap-add", "KILL"]),
        "CapEff:\t0000000000000020\n"
    );
    // Another uid keeps none, but its bounding set is still the container's.
    assert_eq!(
        hull.ok(&with_command(
            &["-u", "1000"],
            &["sh", "-c", "grep -E 'CapEff|CapBnd' /proc/self/status"]
        )),
        "CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n"
    );
    // They bite: without CAP_CHOWN root cannot give a file away; with it, it can.
    let chown = ["sh", "-c", "touch /f && chown 1000 /f && echo done"];
    assert_eq!(hull.ok(&with_command(&[], &chown)), "done\n");
    let refused = hull.run(&with_command(&["--cap-drop", "chown"], &chown));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    // Nor make device nodes without CAP_MKNOD, nor set the clock without CAP_SYS_TIME (not
    // a default; busybox's `date -s` exits 0 whatever happened, so its message tells).
    let mknod = ["mknod", "/null", "c", "1", "3"];
    assert_eq!(hull.run(&with_command(&[], &mknod)).status.code(), Some(0));
    let refused = hull.run(&with_command(&["--cap-drop", "MKNOD"], &mknod));
    assert_eq!(refused.status.code(), Some(1));
    let clock = ["date", "-s", "2020-01-01"];
    let refused = hull.run(&with_command(&[], &clock));
    assert!(
        stderr(&refused).contains("Operation not permitted"),
        "{}",
        stderr(&refused)
    );
    let allowed = hull.run(&with_command(&["--cap-add", "SYS_TIME"], &clock));
    assert_eq!(stderr(&allowed), "");
    let unknown = hull.run(&with_command(&["--cap-add", "FLY"], CAP_EFF));
    assert_eq!(unknown.status.code(), Some(125));
    assert!(stderr(&unknown).contains("unknown capability: \"CAP_FLY\""));

    hull.ok(&[
        "create",
        "--name",
        "c",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "MKNOD",
        "busybox",
    ]);
    assert_eq!(
        hull.inspect("c", "{{json .HostConfig.CapAdd}}"),
        r#"["NET_ADMIN"]"#
    );
    assert_eq!(
        hull.inspect("c", "{{json .HostConfig.CapDrop}}"),
        r#"["MKNOD"]"#
    );
    assert_eq!(hull.inspect("c", "{{.HostConfig.Privileged}}"), "false");
    hull.ok(&["create", "--name", "p", "--privileged", "busybox"]);
    assert_eq!(hull.inspect("p", "{{.HostConfig.Privileged}}"), "true");
    assert_eq!(hull.inspect("p", "{{json .HostConfig.CapAdd}}"), "null");
}

#[test]
fn add_host_entries_are_in_etc_hosts_before_the_process_starts() {
    let Some(hull) = setup("add_host_entries_are_in_etc_hosts_before_the_process_starts") else {
        return;
    };
    let hosts = hull.ok(&with_command(
        &[
            "--add-host",
            "db:10.0.0.5",
            "--add-host",
            "v6:::1",
            "-h",
            "box",
        ],
        &["cat", "/etc/hosts"],
    ));
    let lines: Vec<&str> = hosts.lines().collect();
    assert_eq!(lines[0], "127.0.0.1\tlocalhost", "{hosts}");
    assert!(lines.contains(&"10.0.0.5\tdb"), "{hosts}");
    assert!(lines.contains(&"::1\tv6"), "{hosts}");
    // As Docker: the hostname on the container's own address (the default bridge's).
    let own = lines.last().unwrap();
    assert!(
        own.starts_with("172.17.") && own.ends_with("\tbox"),
        "{hosts}"
    );
    // The image's resolver sees them (busybox ping prints the address it resolved before
    // finding there is no route to it).
    let resolved = hull.ok(&with_command(
        &["--add-host", "db:10.0.0.5"],
        &["sh", "-c", "ping -c 1 -W 1 db 2>&1 | head -1"],
    ));
    assert!(resolved.starts_with("PING db (10.0.0.5)"), "{resolved}");
    for bad in ["nocolon", "db:not-an-ip", "gw:host-gateway"] {
        let out = hull.run(&with_command(&["--add-host", bad], &["true"]));
        assert_eq!(out.status.code(), Some(125), "--add-host {bad}");
    }
    hull.ok(&[
        "create",
        "--name",
        "c",
        "--add-host",
        "db:10.0.0.5",
        "busybox",
    ]);
    assert_eq!(
        hull.inspect("c", "{{json .HostConfig.ExtraHosts}}"),
        r#"["db:10.0.0.5"]"#
    );
}

#[test]
fn init_is_pid_1_passes_the_status_and_reaps_zombies() {
    let Some(hull) = setup("init_is_pid_1_passes_the_status_and_reaps_zombies") else {
        return;
    };
    let ps = hull.ok(&with_command(&["--init"], &["ps", "-o", "pid,args"]));
    assert!(
        ps.lines()
            .any(|l| l.trim() == "1 /sbin/docker-init -- ps -o pid,args"),
        "{ps}"
    );
    let without = hull.ok(&with_command(&[], &["ps", "-o", "pid,args"]));
    assert!(
        without.lines().any(|l| l.trim() == "1 ps -o pid,args"),
        "{without}"
    );
    let status = hull.run(&with_command(&["--init"], &["sh", "-c", "exit 7"]));
    assert_eq!(status.status.code(), Some(7));
    let missing = hull.run(&with_command(&["--init"], &["no-such-command"]));
    assert_eq!(missing.status.code(), Some(127));
    // An orphan re-parented to PID 1 is reaped by the init: no zombie left.
    let zombies = hull.ok(&with_command(
        &["--init"],
        &[
            "sh",
            "-c",
            "(sleep 0.2 &); sleep 1.5; ps -o stat | grep -c Z || true",
        ],
    ));
    assert_eq!(zombies.trim(), "0");
    hull.ok(&["create", "--name", "c", "--init", "busybox"]);
    assert_eq!(hull.inspect("c", "{{.HostConfig.Init}}"), "true");
}

#[test]
fn init_forwards_stop_signal_to_a_process_without_a_handler() {
    let Some(hull) = setup("init_forwards_stop_signal_to_a_process_without_a_handler") else {
        return;
    };
    // `sleep` as PID 1 would ignore SIGTERM (no handler) and be killed after the grace;
    // under the init it is not PID 1 and dies of the forwarded SIGTERM: 143.
    hull.ok(&[
        "run", "-d", "--init", "--name", "s", "busybox", "sleep", "1000",
    ]);
    assert!(wait_until(Duration::from_secs(60), || hull
        .ok(&["exec", "s", "ps", "-o", "args"])
        .contains("sleep 1000")));
    let started = Instant::now();
    hull.ok(&["stop", "-t", "30", "s"]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the grace ran out"
    );
    assert_eq!(hull.inspect("s", "{{.State.ExitCode}}"), "143");
}

#[test]
fn restart_on_failure_restarts_up_to_its_count() {
    let Some(hull) = setup("restart_on_failure_restarts_up_to_its_count") else {
        return;
    };
    // Foreground: the client gets the first status; the shim restarts it twice more.
    let first = hull.run(&[
        "run",
        "--name",
        "f",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    assert!(wait_until(Duration::from_secs(120), || hull
        .inspect("f", "{{.RestartCount}} {{.State.Status}}")
        == "2 exited"));
    assert_eq!(hull.ok(&["logs", "f"]), "run\nrun\nrun\n");
    assert_eq!(hull.inspect("f", "{{.State.ExitCode}}"), "3");
    assert_eq!(
        hull.inspect("f", "{{json .HostConfig.RestartPolicy}}"),
        r#"{"MaximumRetryCount":2,"Name":"on-failure"}"#
    );
    // Success is not a failure: no restart.
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    assert_eq!(hull.ok(&["wait", "ok"]), "0\n");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        hull.inspect("ok", "{{.RestartCount}} {{.State.Status}}"),
        "0 exited"
    );
}

#[test]
fn restart_always_shows_restarting_until_a_user_stops_it() {
    let Some(hull) = setup("restart_always_shows_restarting_until_a_user_stops_it") else {
        return;
    };
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ]);
    // The back-off doubles, so the Restarting window soon outlasts a `ps`.
    assert!(wait_until(Duration::from_secs(120), || hull
        .ok(&["ps", "--format", "{{.Status}}"])
        .starts_with("Restarting (5) ")));
    assert_eq!(
        hull.inspect(
            "a",
            "{{.State.Status}} {{.State.Running}} {{.State.Restarting}}"
        ),
        "restarting true true"
    );
    let count: u32 = hull.inspect("a", "{{.RestartCount}}").parse().unwrap();
    assert!(count >= 1);
    hull.ok(&["stop", "a"]);
    assert_eq!(hull.inspect("a", "{{.State.Status}}"), "exited");
    let stopped_at: u32 = hull.inspect("a", "{{.RestartCount}}").parse().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        hull.inspect("a", "{{.State.Status}} {{.RestartCount}}"),
        format!("exited {stopped_at}"),
        "a user's stop ends the restarts"
    );
    // A user's start begins a new count.
    hull.ok(&["start", "a"]);
    assert!(wait_until(Duration::from_secs(120), || hull
        .inspect("a", "{{.RestartCount}}")
        .parse::<u32>()
        .is_ok_and(|n| n >= 1 && n < stopped_at.max(2))));
    // rm -f while it restarts: gone, and its shim does not bring it back.
    hull.ok(&["rm", "-f", "a"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hull.ok(&["ps", "-aq"]), "");
}

#[test]
fn kill_ends_unless_stopped() {
    let Some(hull) = setup("kill_ends_unless_stopped") else {
        return;
    };
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "u",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ]);
    hull.ok(&["kill", "u"]);
    assert_eq!(hull.ok(&["wait", "u"]), "137\n");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        hull.inspect("u", "{{.State.Status}} {{.RestartCount}}"),
        "exited 0"
    );
}

#[test]
fn restart_with_rm_is_refused_as_docker_does() {
    let Some(hull) = setup("restart_with_rm_is_refused_as_docker_does") else {
        return;
    };
    let out = hull.run(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("Conflicting options: --restart and --rm"));
    let out = hull.run(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("unknown policy 'sometimes'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(hull.ok(&["ps", "-aq"]), "", "nothing was created");
}

#[test]
fn stop_right_after_run_d_reaches_a_process_under_init() {
    let Some(hull) = setup("stop_right_after_run_d_reaches_a_process_under_init") else {
        return;
    };
    // `run -d` returns before the guest has booted, so the SIGTERM reaches the guest as the
    // init starts: hull-init execs it with signals blocked, so it is kept for the init to
    // forward instead of being dropped (PID 1 without a handler), and `sleep` dies of it
    // instead of waiting out the grace for SIGKILL.
    hull.ok(&[
        "run", "-d", "--init", "--name", "s", "busybox", "sleep", "1000",
    ]);
    let started = Instant::now();
    hull.ok(&["stop", "-t", "30", "s"]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the SIGTERM was lost"
    );
    assert_eq!(hull.inspect("s", "{{.State.ExitCode}}"), "143");
}
