//! hull-init's `--init` mode (`/sbin/docker-init -- CMD`) run on the host: it passes the
//! process's status on, forwards signals to it and reaps orphans.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn init(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hull-init"));
    command
        .arg0("/sbin/docker-init")
        .arg("--")
        .args(args)
        .stdin(Stdio::null());
    command
}

#[test]
fn the_status_of_the_process_is_the_inits() {
    let status = |args: &[&str]| init(args).status().unwrap().code();
    assert_eq!(status(&["sh", "-c", "exit 7"]), Some(7));
    assert_eq!(status(&["true"]), Some(0));
    assert_eq!(
        status(&["sh", "-c", "kill -TERM $$"]),
        Some(143),
        "128 + SIGTERM"
    );
    assert_eq!(status(&["no-such-command-anywhere"]), Some(127));
}

#[test]
fn signals_to_the_init_reach_the_process() {
    let mut child = init(&[
        "sh",
        "-c",
        "trap 'echo got-term; exit 9' TERM; while true; do sleep 0.05; done",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // Let the shell install its trap.
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the init did not forward SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(9));
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(out, "got-term\n");
}

#[test]
fn orphans_of_the_process_are_reaped() {
    // As a subreaper the init inherits the orphan (as PID 1 in a container it would); the
    // process then finds no zombie among the init's children.
    let mut command = init(&[
        "sh",
        "-c",
        "(sleep 0.2 &); sleep 1; ps -o stat= --ppid $PPID | grep -c Z || true",
    ]);
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) in the child before exec touches no memory.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}
