//! `pause`/`unpause` (a paused VM's vCPUs are stopped: its processes make no progress) and
//! `top` (the container's processes as `ps -ef` shows them), through the real binary on
//! QEMU.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, stdout, wait_until, Hull};
use std::time::Duration;

/// Prints a counter every 0.2 s.
const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done";

fn lines(hull: &Hull, name: &str) -> usize {
    hull.ok(&["logs", name]).lines().count()
}

fn refused(hull: &Hull, args: &[&str], message: &str) {
    let out = hull.run(args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
}

#[test]
fn a_paused_container_makes_no_progress_until_unpaused() {
    let Some(hull) = setup("a_paused_container_makes_no_progress_until_unpaused") else {
        return;
    };
    hull.ok(&[
        "run", "-d", "--name", "count", "busybox", "sh", "-c", COUNTER,
    ]);
    assert!(wait_until(Duration::from_secs(30), || lines(
        &hull, "count"
    ) >= 3));

    assert_eq!(hull.ok(&["pause", "count"]), "count\n");
    assert_eq!(
        hull.inspect(
            "count",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
        ),
        "paused true true"
    );
    let ps = hull.ok(&["ps"]);
    assert!(ps.contains(" (Paused) "), "{ps}");
    assert_eq!(
        hull.ok(&["ps", "-q", "--filter", "status=paused"])
            .lines()
            .count(),
        1
    );
    assert_eq!(hull.ok(&["ps", "-q", "--filter", "status=running"]), "");
    // The vCPUs are stopped: not one more line in 2 s (10 periods of the counter).
    let frozen = lines(&hull, "count");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        lines(&hull, "count"),
        frozen,
        "the counter ran while paused"
    );

    refused(&hull, &["pause", "count"], "is already paused");
    refused(
        &hull,
        &["exec", "count", "true"],
        "is paused, unpause the container before exec",
    );
    refused(
        &hull,
        &["attach", "count"],
        "cannot attach to a paused container",
    );
    refused(&hull, &["top", "count"], "is paused");
    refused(
        &hull,
        &["cp", "count:/etc/hostname", "-"],
        "unpause the container before copying",
    );

    assert_eq!(hull.ok(&["container", "unpause", "count"]), "count\n");
    assert!(
        wait_until(Duration::from_secs(30), || lines(&hull, "count")
            > frozen + 2),
        "the counter goes on after unpause"
    );
    assert_eq!(
        hull.inspect("count", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );
    refused(&hull, &["unpause", "count"], "is not paused");
    hull.ok(&["exec", "count", "true"]);
}

#[test]
fn stop_kill_and_rm_f_end_a_paused_container() {
    let Some(hull) = setup("stop_kill_and_rm_f_end_a_paused_container") else {
        return;
    };
    // stop resumes the VM first: the process's TERM trap runs and sets the status.
    let trap = "trap 'exit 3' TERM; echo up; while true; do sleep 0.1; done";
    hull.ok(&["run", "-d", "--name", "trap", "busybox", "sh", "-c", trap]);
    assert!(wait_until(Duration::from_secs(30), || hull
        .ok(&["logs", "trap"])
        .contains("up")));
    hull.ok(&["pause", "trap"]);
    assert_eq!(hull.ok(&["stop", "-t", "30", "trap"]), "trap\n");
    assert_eq!(
        hull.inspect(
            "trap",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Paused}}"
        ),
        "exited 3 false"
    );
    refused(&hull, &["pause", "trap"], "is not running");
    refused(&hull, &["unpause", "trap"], "is not paused");

    hull.ok(&["run", "-d", "--name", "killed", "busybox", "sleep", "1000"]);
    hull.ok(&["pause", "killed"]);
    hull.ok(&["kill", "killed"]);
    assert_eq!(hull.ok(&["wait", "killed"]), "137\n");

    hull.ok(&["run", "-d", "--name", "gone", "busybox", "sleep", "1000"]);
    hull.ok(&["pause", "gone"]);
    assert_eq!(hull.ok(&["rm", "-f", "gone"]), "gone\n");
    assert!(!hull.ok(&["ps", "-a"]).contains("gone"));
}

/// Whether `top tp` has a process whose CMD is `command`.
fn lists(hull: &Hull, command: &str) -> bool {
    hull.ok(&["top", "tp"]).lines().any(|row| {
        let cells: Vec<&str> = row.split_whitespace().collect();
        cells.get(7..).is_some_and(|cmd| cmd.join(" ") == command)
    })
}

#[test]
fn top_lists_the_containers_processes() {
    let Some(hull) = setup("top_lists_the_containers_processes") else {
        return;
    };
    refused(&hull, &["top", "nosuch"], "No such container");
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "tp",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & wait",
    ]);
    // The background sleep may not have forked yet right after the boot.
    assert!(wait_until(Duration::from_secs(30), || lists(
        &hull,
        "sleep 1000"
    )));
    let top = hull.ok(&["top", "tp"]);
    let mut rows = top.lines();
    let header: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let table: Vec<Vec<&str>> = rows.map(|r| r.split_whitespace().collect()).collect();
    let shell = table
        .iter()
        .find(|r| r[7..].join(" ") == "sh -c sleep 1000 & wait")
        .unwrap_or_else(|| panic!("no shell row: {top}"));
    let sleep = table
        .iter()
        .find(|r| r[7..].join(" ") == "sleep 1000")
        .unwrap_or_else(|| panic!("no sleep row: {top}"));
    assert_eq!((sleep[0], sleep[2]), ("root", shell[1]), "{top}");
    assert_eq!(sleep[5], "?", "no terminal: {top}");
    assert_eq!(table.len(), 2, "the container's processes only: {top}");

    // An exec'd process is the container's too.
    hull.ok(&["exec", "-d", "tp", "sleep", "2000"]);
    assert!(wait_until(Duration::from_secs(30), || lists(
        &hull,
        "sleep 2000"
    )));

    let picked = hull.ok(&["container", "top", "tp", "-o", "pid,comm"]);
    let mut picked_rows = picked.lines();
    assert_eq!(
        picked_rows
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert!(
        picked_rows.any(|r| r.split_whitespace().eq([sleep[1], "sleep"])),
        "{picked}"
    );

    refused(
        &hull,
        &["top", "tp", "-o", "comm"],
        "Couldn't find PID field",
    );
    refused(&hull, &["top", "tp", "aux"], "hull top supports");
    hull.ok(&["kill", "tp"]);
    hull.ok(&["wait", "tp"]);
    let out = hull.run(&["top", "tp"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}
