//! `run -it` through a real terminal (tmux): prompt, size, resize, Ctrl-C, exit status.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, wait_until, which};
use std::process::Command;
use std::time::Duration;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn interactive_tty_session_behaves_like_docker() {
    let Some(hull) = setup("interactive_tty_session_behaves_like_docker") else {
        return;
    };
    if which("tmux").is_none() {
        eprintln!("SKIPPED interactive_tty_session_behaves_like_docker: tmux is not installed (apt-get install tmux)");
        return;
    }
    let session = format!("hull-it-{}", std::process::id());
    let status_file = hull.root.path().join("status");
    let command = format!(
        "{} run -it --rm busybox sh; echo $? > {}; sleep 60",
        hull.env_prefix(),
        status_file.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    tmux(&["set-option", "-t", &session, "window-size", "manual"]);
    let screen = || tmux(&["capture-pane", "-t", &session, "-p"]);
    let keys = |keys: &[&str]| {
        let mut args = vec!["send-keys", "-t", session.as_str()];
        args.extend_from_slice(keys);
        tmux(&args);
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(
            wait_until(Duration::from_secs(30), || screen().contains("/ #")),
            "no prompt: {}",
            screen()
        );
        keys(&["stty size", "Enter"]);
        assert!(
            wait_until(Duration::from_secs(10), || screen().contains("30 100")),
            "{}",
            screen()
        );
        tmux(&["resize-window", "-t", &session, "-x", "120", "-y", "40"]);
        std::thread::sleep(Duration::from_millis(500));
        keys(&["stty size", "Enter"]);
        assert!(
            wait_until(Duration::from_secs(10), || screen().contains("40 120")),
            "{}",
            screen()
        );
        keys(&["sleep 100", "Enter"]);
        std::thread::sleep(Duration::from_millis(500));
        keys(&["C-c"]);
        keys(&["echo still-here", "Enter"]);
        assert!(
            wait_until(Duration::from_secs(10), || screen()
                .matches("still-here")
                .count()
                >= 2),
            "Ctrl-C must interrupt sleep, not hull: {}",
            screen()
        );
        keys(&["exit 3", "Enter"]);
        assert!(wait_until(Duration::from_secs(20), || status_file.exists()));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(std::fs::read_to_string(&status_file).unwrap().trim(), "3");
    }));
    tmux(&["kill-session", "-t", &session]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
