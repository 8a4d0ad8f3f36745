//! `hull run` in the foreground on the QEMU engine: output, exit statuses, flags.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, stdout};

#[test]
fn echo_hello_prints_hello_and_exits_zero() {
    let Some(hull) = setup("echo_hello_prints_hello_and_exits_zero") else {
        return;
    };
    let out = hull.run(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(stdout(&out), "hello\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // --rm leaves nothing behind.
    assert_eq!(hull.ok(&["ps", "-aq"]), "");
}

#[test]
fn exit_statuses_are_dockers() {
    let Some(hull) = setup("exit_statuses_are_dockers") else {
        return;
    };
    let code = |args: &[&str]| hull.run(args).status.code();
    assert_eq!(
        code(&["run", "--rm", "busybox", "sh", "-c", "exit 7"]),
        Some(7)
    );
    let missing = hull.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(
        stderr(&missing).contains("no-such-command"),
        "{}",
        stderr(&missing)
    );
    let not_executable = hull.run(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(
        not_executable.status.code(),
        Some(126),
        "{}",
        stderr(&not_executable)
    );
}

/// `sh -c 'kill -9 $$'` is NOT a signal death, in Docker or in hull: the container's process
/// is PID 1 of its pid namespace, and the kernel drops signals a namespace's init sends to
/// itself unless it installed a handler (SIGKILL/SIGSTOP never can be). So `docker run
/// busybox sh -c 'kill -9 $$'` exits 0, and hull (which also makes a pid namespace) must too.
/// Real 128+N signal deaths are proven where Docker has them too: `hull kill -s KILL` of a
/// detached container -> `wait` prints 137 (lifecycle.rs), and `kill -9 $$` in a spec
/// without a pid namespace -> 137 in guest-init's QEMU tests (qemu_boot.rs).
#[test]
fn kill_9_of_itself_is_ignored_by_pid_1_as_in_docker() {
    let Some(hull) = setup("kill_9_of_itself_is_ignored_by_pid_1_as_in_docker") else {
        return;
    };
    let out = hull.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "kill -9 $$; echo survived",
    ]);
    assert_eq!(stdout(&out), "survived\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}

#[test]
fn bad_image_name_is_a_125_with_a_message() {
    let Some(hull) = setup("bad_image_name_is_a_125_with_a_message") else {
        return;
    };
    let out = hull.run(&["run", "--rm", "no-such-image:v9", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("no-such-image"), "{}", stderr(&out));
    let bad_flag = hull.run(&["run", "--memory", "lots", "busybox", "true"]);
    assert_eq!(
        bad_flag.status.code(),
        Some(125),
        "clap errors are hull errors too"
    );
}

#[test]
fn stdout_and_stderr_stay_separate_without_tty() {
    let Some(hull) = setup("stdout_and_stderr_stay_separate_without_tty") else {
        return;
    };
    let out = hull.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ]);
    assert_eq!(stdout(&out), "to-out\n");
    assert!(stderr(&out).contains("to-err"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("to-err"));
}

#[test]
fn env_workdir_user_hostname_are_visible_inside() {
    let Some(hull) = setup("env_workdir_user_hostname_are_visible_inside") else {
        return;
    };
    let out = hull.ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "--hostname",
        "boxy",
        "busybox",
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; hostname",
    ]);
    assert_eq!(out, "bar\n/tmp\n1000\nboxy\n");
}

#[test]
fn stdin_is_piped_with_dash_i() {
    let Some(hull) = setup("stdin_is_piped_with_dash_i") else {
        return;
    };
    let mut child = hull
        .cmd(&["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = hull_tests::finish(child, &["run", "-i"]);
    // Exactly the transformed line: no `shout\r\n` echoed by the guest tty (the host holds
    // stdin until hull-init reports the consoles raw).
    assert_eq!(stdout(&out), "SHOUT\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}
