//! `run -it` through a real terminal (tmux): prompt, size, resize, Ctrl-C, exit status.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, wait_until, Terminal};
use std::time::Duration;

#[test]
fn interactive_tty_session_behaves_like_docker() {
    let Some(hull) = setup("interactive_tty_session_behaves_like_docker") else {
        return;
    };
    let status_file = hull.root.path().join("status");
    let command = format!(
        "{} run -it --rm busybox sh; echo $? > {}; sleep 60",
        hull.env_prefix(),
        status_file.display()
    );
    let Some(term) = Terminal::start(
        "interactive_tty_session_behaves_like_docker",
        &command,
        100,
        30,
    ) else {
        return;
    };
    let screen = || term.screen();
    let keys = |keys: &[&str]| term.keys(keys);
    {
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
        term.resize(120, 40);
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
    }
}
