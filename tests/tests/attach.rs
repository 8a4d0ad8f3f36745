//! `hull attach` as `docker attach`: stdin forwarded to a `-d -i` container, output streamed,
//! the container's status as hull's (also for a `--rm` container gone meanwhile), a tty
//! session in raw mode with the host's size, and Docker's error for an unknown container.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{finish, setup, stderr, stdout, wait_until, which, Hull, Terminal};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// `hull attach NAME` with `input` on its stdin, to completion.
fn attach_with_input(hull: &Hull, name: &str, input: &[u8]) -> std::process::Output {
    let mut child = hull
        .cmd(&["attach", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hull attach starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).expect("attach reads its stdin");
    drop(stdin);
    finish(child, &["attach", name])
}

#[test]
fn attach_forwards_stdin_and_exits_with_the_container() {
    let Some(hull) = setup("attach_forwards_stdin_and_exits_with_the_container") else {
        return;
    };
    let script = "read line; echo got:$line; echo to-stderr >&2";
    hull.ok(&[
        "run", "-d", "-i", "--name", "a", "busybox", "sh", "-c", script,
    ]);
    let out = attach_with_input(&hull, "a", b"hello\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "got:hello\n");
    assert_eq!(stderr(&out), "to-stderr\n", "stderr stays its own stream");

    // A --rm container is removed by its supervisor right after it ends: the status still
    // reaches the attached client.
    let script = "read line; echo got:$line; exit 6";
    hull.ok(&[
        "run", "-d", "-i", "--rm", "--name", "r", "busybox", "sh", "-c", script,
    ]);
    let out = attach_with_input(&hull, "r", b"bye\n");
    assert_eq!(stdout(&out), "got:bye\n");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        wait_until(Duration::from_secs(10), || !hull
            .run(&["inspect", "r"])
            .status
            .success()),
        "--rm removed the container"
    );
}

#[test]
fn attach_refuses_unknown_and_stopped_containers_like_docker() {
    let Some(hull) = setup("attach_refuses_unknown_and_stopped_containers_like_docker") else {
        return;
    };
    let out = hull.run(&["attach", "nosuch"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "Docker's status for attach errors"
    );
    assert!(
        stderr(&out).contains("No such container: nosuch"),
        "{}",
        stderr(&out)
    );
    hull.ok(&["run", "--name", "done", "busybox", "true"]);
    let out = hull.run(&["attach", "done"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot attach to a stopped container"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn attach_to_a_tty_container_uses_the_host_terminal() {
    let Some(hull) = setup("attach_to_a_tty_container_uses_the_host_terminal") else {
        return;
    };
    if which("tmux").is_none() {
        eprintln!("SKIPPED attach_to_a_tty_container_uses_the_host_terminal: tmux is not installed (apt-get install tmux)");
        return;
    }
    hull.ok(&["run", "-d", "-it", "--name", "t", "busybox", "sh"]);
    let status_file = hull.root.path().join("status");
    let command = format!(
        "{} attach t; echo $? > {}; sleep 60",
        hull.env_prefix(),
        status_file.display()
    );
    let Some(term) = Terminal::start(
        "attach_to_a_tty_container_uses_the_host_terminal",
        &command,
        100,
        30,
    ) else {
        return;
    };
    let screen = || term.screen();
    let keys = |keys: &[&str]| term.keys(keys);
    {
        // Attach prints nothing until the container does: ask for output until it comes.
        assert!(
            wait_until(Duration::from_secs(20), || {
                keys(&["stty size", "Enter"]);
                std::thread::sleep(Duration::from_millis(300));
                screen().contains("30 100")
            }),
            "the host size reaches the container: {}",
            screen()
        );
        term.resize(120, 40);
        std::thread::sleep(Duration::from_millis(500));
        keys(&["stty size", "Enter"]);
        assert!(
            wait_until(Duration::from_secs(10), || screen().contains("40 120")),
            "{}",
            screen()
        );
        keys(&["exit 3", "Enter"]);
        assert!(
            wait_until(Duration::from_secs(20), || std::fs::read_to_string(
                &status_file
            )
            .is_ok_and(|s| s.trim() == "3")),
            "attach exits with the container's status: {}",
            screen()
        );
    }
}
