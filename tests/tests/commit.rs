//! `hull commit`: a container's changes (read inside its VM) become an ordinary image:
//! config from the container and `-c`, deletions kept, history recorded; running
//! containers are frozen while read; podman loads and runs what `hull save` exports.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, stdout, wait_until, which};
use std::time::Duration;

#[test]
fn a_committed_container_is_an_image_with_its_changes_and_config() {
    let test = "a_committed_container_is_an_image_with_its_changes_and_config";
    let Some(hull) = setup(test) else {
        return;
    };
    hull.ok(&[
        "run",
        "--name",
        "made",
        "-e",
        "FROM_RUN=1",
        "busybox",
        "sh",
        "-c",
        "echo hello > /greeting; rm /bin/ls",
    ]);
    let id = hull.ok(&[
        "commit",
        "-m",
        "added greeting",
        "-a",
        "A. Author",
        "-c",
        r#"CMD ["cat", "/greeting"]"#,
        "-c",
        "ENV GREETING=hi",
        "-c",
        "EXPOSE 8080",
        "made",
        "greeter:1",
    ]);
    assert!(
        id.trim().starts_with("sha256:") && id.trim().len() == 71,
        "{id}"
    );
    assert_eq!(hull.ok(&["run", "--rm", "greeter:1"]), "hello\n");
    assert_eq!(
        hull.ok(&[
            "run",
            "--rm",
            "greeter:1",
            "sh",
            "-c",
            "echo $FROM_RUN $GREETING"
        ]),
        "1 hi\n"
    );
    let deleted = hull.run(&["run", "--rm", "greeter:1", "ls", "/bin/ls"]);
    assert_ne!(
        deleted.status.code(),
        Some(0),
        "the deletion was committed too"
    );
    assert_eq!(
        hull.inspect("greeter:1", "{{.Author}} {{json .Config.ExposedPorts}}"),
        r#"A. Author {"8080/tcp":{}}"#
    );
    let history = hull.ok(&["history", "greeter:1"]);
    assert!(
        history.lines().nth(1).unwrap().contains("added greeting"),
        "{history}"
    );
    // Refused before any work: an instruction commit does not take, a missing container.
    let bad = hull.run(&["commit", "-c", "RUN rm -rf /", "made", "nope:1"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("not a valid change command"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(hull.run(&["commit", "nosuch"]).status.code(), Some(1));
}

#[test]
fn a_running_container_commits_and_keeps_running() {
    let Some(hull) = setup("a_running_container_commits_and_keeps_running") else {
        return;
    };
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo state > /state; while true; do date >> /ticks; sleep 0.1; done",
    ]);
    assert!(wait_until(Duration::from_secs(30), || hull
        .run(&["exec", "live", "test", "-s", "/ticks"])
        .status
        .success()));
    hull.ok(&["commit", "live", "snapshot"]);
    assert_eq!(
        hull.ok(&["run", "--rm", "--entrypoint", "cat", "snapshot", "/state"]),
        "state\n"
    );
    assert_eq!(hull.inspect("live", "{{.State.Status}}"), "running");
    // Its processes were thawed after the commit: the ticks go on.
    let count = || hull.ok(&["exec", "live", "wc", "-l", "/ticks"]);
    let before = count();
    assert!(wait_until(Duration::from_secs(10), || count() != before));
}

#[test]
fn podman_loads_and_runs_a_committed_image_hull_saved() {
    let test = "podman_loads_and_runs_a_committed_image_hull_saved";
    if which("podman").is_none() || which("runc").is_none() {
        eprintln!("SKIPPED {test}: podman and runc are not installed (scripts/install-deps.sh)");
        return;
    }
    let Some(hull) = setup(test) else {
        return;
    };
    let Some(podman) = hull_tests::compat::Podman::new() else {
        eprintln!("SKIPPED {test}: cannot set up a podman store");
        return;
    };
    hull.ok(&[
        "run",
        "--name",
        "made",
        "busybox",
        "sh",
        "-c",
        "echo from-hull > /made",
    ]);
    hull.ok(&["commit", "-c", "CMD cat /made", "made", "localhost/made:1"]);
    let archive = hull.root.path().join("made.tar");
    hull.ok(&["save", "-o", archive.to_str().unwrap(), "localhost/made:1"]);
    let run = podman.load_and_run(&archive, "localhost/made:1");
    assert!(run.status.success(), "podman: {}", stderr(&run));
    assert_eq!(stdout(&run), "from-hull\n");
}
