//! `hull create` and `hull exec` as Docker's: a created container is listed "Created" and
//! boots on `start`; `exec` runs extra processes inside the running container (its hostname,
//! files, environment), with the process's exit status, stdout and stderr apart, stdin with
//! `-i`, `-e`/`-w`/`-u`, several at once, `-d`, a terminal with `-it`, and 1 with advice
//! for a container that is not running.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{finish, setup, stderr, stdout, wait_until, Hull, Terminal};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// `hull ARGS` with `input` on its stdin, to completion. The input is written from its own
/// thread while `finish` reads the output: written first, a large input deadlocks against
/// output nobody reads yet (as in any pipeline).
fn run_with_input(hull: &Hull, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = hull
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hull starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = finish(child, args);
    writer
        .join()
        .expect("writer thread")
        .expect("hull reads its stdin");
    output
}

/// A created container ("Created" in `ps -a`) started with `hull start`, named `name`, whose
/// main process writes a file and then waits.
fn start_created(hull: &Hull, name: &str) {
    let script = "echo from-main > /tmp/main-wrote; while true; do sleep 1; done";
    let id = hull.ok(&[
        "create", "--name", name, "-h", "exec-box", "busybox", "sh", "-c", script,
    ]);
    assert_eq!(id.trim().len(), 64, "create prints the full id: {id}");
    let ps = hull.ok(&["ps", "-a"]);
    let row = ps.lines().find(|l| l.ends_with(name)).unwrap_or_default();
    assert!(row.contains("Created"), "{ps}");
    assert!(
        !hull.ok(&["ps"]).contains(name),
        "a created container is not running"
    );
    assert_eq!(hull.ok(&["start", name]).trim(), name);
    assert_eq!(hull.inspect(name, "{{.State.Status}}"), "running");
}

#[test]
fn exec_runs_commands_inside_a_running_container() {
    let Some(hull) = setup("exec_runs_commands_inside_a_running_container") else {
        return;
    };
    start_created(&hull, "box");

    // The container's own hostname, files and process tree.
    assert_eq!(
        hull.ok(&["exec", "box", "cat", "/etc/hostname"]),
        "exec-box\n"
    );
    assert_eq!(hull.ok(&["exec", "box", "hostname"]), "exec-box\n");
    assert!(
        wait_until(Duration::from_secs(20), || hull
            .run(&["exec", "box", "cat", "/tmp/main-wrote"])
            .stdout
            == b"from-main\n"),
        "exec sees the file the main process wrote"
    );
    let ps = hull.ok(&["exec", "box", "ps"]);
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("while true")),
        "same pid namespace: the container's process is PID 1 there\n{ps}"
    );

    // Exit statuses: the process's own, Docker's 127 for "not found".
    assert_eq!(hull.run(&["exec", "box", "true"]).status.code(), Some(0));
    let out = hull.run(&["exec", "box", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let out = hull.run(&["exec", "box", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );

    // Without -t, stdout and stderr stay apart.
    let out = hull.run(&[
        "exec",
        "box",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2; echo more-out",
    ]);
    assert_eq!(stdout(&out), "to-out\nmore-out\n");
    assert_eq!(stderr(&out), "to-err\n");

    // -i: our stdin, with its end, so `tr` finishes.
    let out = run_with_input(
        &hull,
        &["exec", "-i", "box", "tr", "A-Z", "a-z"],
        b"SHOUT\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "shout\n");
    // Without -i the process reads EOF at once.
    let out = run_with_input(&hull, &["exec", "box", "cat"], b"ignored\n");
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), ""));
    // Bytes are carried exactly, in both directions, beyond one message and one window.
    let binary: Vec<u8> = (0..200_000u32)
        .map(|i| u8::try_from(i % 251).expect("below 251"))
        .collect();
    let out = run_with_input(&hull, &["exec", "-i", "box", "cat"], &binary);
    assert!(out.stdout == binary, "{} bytes back", out.stdout.len());

    // -e adds to the container's environment, -w and -u set where and who.
    let out = hull.ok(&[
        "exec",
        "-e",
        "GREETING=hi there",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "box",
        "sh",
        "-c",
        "echo \"$GREETING\"; echo $PATH; pwd; id -u",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "hi there");
    assert!(
        lines[1].contains("/bin"),
        "the container's PATH stays: {out}"
    );
    assert_eq!(&lines[2..], ["/tmp", "1000"]);

    // -d: started in the background; its effect shows later.
    let out = hull.run(&[
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "sleep 1; echo later > /tmp/detached",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "exec -d prints nothing");
    assert!(wait_until(Duration::from_secs(20), || hull
        .run(&["exec", "box", "cat", "/tmp/detached"])
        .stdout
        == b"later\n"));
}

#[test]
fn several_execs_run_at_the_same_time() {
    let Some(hull) = setup("several_execs_run_at_the_same_time") else {
        return;
    };
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "pair",
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ]);
    // Each one waits for a file the other creates: run one after the other, both would
    // time out (exit 1).
    let meet = |me: &str, other: &str| {
        format!(
            "touch /tmp/{me}; i=0; while [ ! -e /tmp/{other} ]; do i=$((i+1)); [ $i -gt 60 ] && exit 1; sleep 1; done; echo {me}-met; exit 3"
        )
    };
    let spawn = |script: String| {
        hull.cmd(&["exec", "pair", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hull exec starts")
    };
    let a = spawn(meet("a", "b"));
    let b = spawn(meet("b", "a"));
    let a = finish(a, &["exec", "a"]);
    let b = finish(b, &["exec", "b"]);
    assert_eq!((a.status.code(), stdout(&a).as_str()), (Some(3), "a-met\n"));
    assert_eq!((b.status.code(), stdout(&b).as_str()), (Some(3), "b-met\n"));
}

#[test]
fn a_slow_exec_reader_slows_the_process_instead_of_losing_it() {
    let Some(hull) = setup("a_slow_exec_reader_slows_the_process_instead_of_losing_it") else {
        return;
    };
    hull.ok(&["run", "-d", "--name", "slow", "busybox", "sleep", "600"]);
    // More output than everything between the process and us holds (pipes, sockets, the
    // guest's output window), read only after a pause twice as long as the 5 s after which
    // a stalled reader used to be dropped: `hull exec slow head ... | (sleep 10; cat)`.
    let bytes = 2 << 20;
    let count = bytes.to_string();
    let args = ["exec", "slow", "head", "-c", count.as_str(), "/dev/zero"];
    let child = hull
        .cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hull starts");
    std::thread::sleep(Duration::from_secs(10));
    let out = finish(child, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), bytes, "every byte, after the pause");
    assert!(out.stdout.iter().all(|&b| b == 0));
    // The container is unharmed and serves the next exec.
    assert_eq!(hull.ok(&["exec", "slow", "echo", "next"]), "next\n");
}

#[test]
fn exec_needs_a_running_container() {
    let Some(hull) = setup("exec_needs_a_running_container") else {
        return;
    };
    hull.ok(&["create", "--name", "idle", "busybox", "true"]);
    // Docker's CLI exits 1 when the daemon refuses an exec.
    let out = hull.run(&["exec", "idle", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container idle is not running: start it first"),
        "{}",
        stderr(&out)
    );
    // A created container is removed like any other.
    assert_eq!(hull.ok(&["rm", "idle"]).trim(), "idle");
    assert!(!hull.ok(&["ps", "-a"]).contains("idle"));

    hull.ok(&["run", "--name", "done", "busybox", "true"]);
    let out = hull.run(&["exec", "done", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("start it first"), "{}", stderr(&out));
    let out = hull.run(&["exec", "nosuch", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No such container: nosuch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_it_gives_a_terminal_session() {
    let Some(hull) = setup("exec_it_gives_a_terminal_session") else {
        return;
    };
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "term",
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ]);
    let status_file = hull.root.path().join("status");
    let command = format!(
        "{} exec -it term sh; echo $? > {}; sleep 60",
        hull.env_prefix(),
        status_file.display()
    );
    let Some(term) = Terminal::start("exec_it_gives_a_terminal_session", &command, 100, 30) else {
        return;
    };
    assert!(
        wait_until(Duration::from_secs(30), || term.screen().contains("/ #")),
        "no prompt: {}",
        term.screen()
    );
    term.keys(&["tty; stty size; echo $TERM", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let screen = term.screen();
            screen.contains("/dev/pts/") && screen.contains("30 100") && screen.contains("xterm")
        }),
        "a pty of the host terminal's size: {}",
        term.screen()
    );
    term.resize(120, 40);
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["stty size", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(10), || term.screen().contains("40 120")),
        "resizes reach the exec's terminal: {}",
        term.screen()
    );
    term.keys(&["exit 3", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(20), || std::fs::read_to_string(
            &status_file
        )
        .is_ok_and(|s| s.trim() == "3")),
        "exec -it exits with the shell's status: {}",
        term.screen()
    );
    assert_eq!(
        hull.inspect("term", "{{.State.Status}}"),
        "running",
        "the container outlives its exec session"
    );
}
