//! `hull diff`: a container's changes against its image, read inside its VM, as Docker
//! prints them; running and stopped containers.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, wait_until};
use std::time::Duration;

#[test]
fn diff_lists_added_changed_and_deleted_paths_like_docker() {
    let Some(hull) = setup("diff_lists_added_changed_and_deleted_paths_like_docker") else {
        return;
    };
    hull.ok(&[
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/new; rm /bin/ls; echo more >> /etc/passwd; mkdir -p /data/a",
    ]);
    assert_eq!(
        hull.ok(&["diff", "changed"]),
        "C /bin\nD /bin/ls\nA /data\nA /data/a\nC /etc\nC /etc/passwd\nC /tmp\nA /tmp/new\n"
    );
    // The files hull-init writes (/etc/hosts, /etc/hostname, /etc/resolv.conf) are not the
    // container's changes, as Docker's bind-mounted ones are not.
    hull.ok(&["run", "--name", "quiet", "busybox", "true"]);
    assert_eq!(hull.ok(&["container", "diff", "quiet"]), "");
    // A running container, too.
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "touch /x; sleep 600",
    ]);
    assert!(wait_until(Duration::from_secs(30), || hull
        .ok(&["diff", "live"])
        == "A /x\n"));
    let missing = hull.run(&["diff", "nosuch"]);
    assert_eq!(missing.status.code(), Some(1));
}
