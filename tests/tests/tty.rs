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

#[test]
fn detach_keys_leave_the_container_running_like_docker() {
    let test = "detach_keys_leave_the_container_running_like_docker";
    let Some(hull) = setup(test) else {
        return;
    };
    let status = hull.root.path().join("status");
    let h = hull.env_prefix();
    let s = status.display();
    // Three clients one after another in one terminal: run -it, attach with other keys,
    // exec -it; each detaches and records its own exit status.
    let command = format!(
        "{h} run -it --name d busybox sh; echo run=$? >> {s}; \
         {h} attach --detach-keys ctrl-a,x d; echo attach=$? >> {s}; \
         {h} exec -it d sh; echo exec=$? >> {s}; sleep 60"
    );
    let Some(term) = Terminal::start(test, &command, 100, 30) else {
        return;
    };
    let screen = || term.screen();
    let recorded = |what: &str| {
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&status).is_ok_and(|s| s.contains(what))
        })
    };
    let running = || hull.inspect("d", "{{.State.Running}}") == "true";

    assert!(
        wait_until(Duration::from_secs(30), || screen().contains("/ #")),
        "no prompt: {}",
        screen()
    );
    term.keys(&["echo first-$((1+1))", "Enter"]);
    assert!(wait_until(Duration::from_secs(10), || screen().contains("first-2")));
    term.keys(&["C-p", "C-q"]);
    assert!(
        recorded("run=0"),
        "run -it must end with 0 on ctrl-p ctrl-q: {}",
        screen()
    );
    assert!(running(), "the container keeps running after the detach");

    // `attach` with other keys: ctrl-p ctrl-q now go to the shell, ctrl-a x detach.
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["C-p", "C-q"]);
    term.keys(&["echo second-$((2+2))", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(10), || screen().contains("second-4")),
        "the attached shell answers: {}",
        screen()
    );
    term.keys(&["C-a", "x"]);
    assert!(recorded("attach=0"), "{}", screen());
    assert!(running());

    // `exec -it`: the detached process goes on running.
    assert!(wait_until(Duration::from_secs(20), || screen()
        .matches("/ #")
        .count()
        >= 3));
    term.keys(&["sleep 1234", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["C-p", "C-q"]);
    assert!(recorded("exec=0"), "{}", screen());
    assert!(
        wait_until(Duration::from_secs(10), || hull
            .ok(&["exec", "d", "ps"])
            .contains("sleep 1234")),
        "the exec'd process must outlive its detached client"
    );
    hull.ok(&["rm", "-f", "d"]);
}

#[test]
fn run_t_gives_the_process_a_pty_of_its_own_as_docker_does() {
    let Some(hull) = setup("run_t_gives_the_process_a_pty_of_its_own_as_docker_does") else {
        return;
    };
    // Docker's `-t`: a devpts pty in the container, its controlling terminal (not the VM's
    // console), with the pty's line discipline (\n -> \r\n on output).
    let out = hull.run(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "tty; readlink /proc/self/fd/1; [ -t 0 ] && echo stdin-is-a-tty; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        hull_tests::stdout(&out),
        "/dev/pts/0\r\n/dev/pts/0\r\nstdin-is-a-tty\r\n"
    );
    // An exec gets the next pty of the same devpts.
    hull.ok(&["run", "-d", "-t", "--name", "pts", "busybox", "sleep", "60"]);
    let exec = hull.ok(&["exec", "-t", "pts", "tty"]);
    assert_eq!(exec, "/dev/pts/1\r\n");
}
