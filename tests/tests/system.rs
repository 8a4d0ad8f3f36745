//! `hull events`, `hull system df`, `hull version` and `hull port` through the real binary.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stdout};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// A child process killed and reaped when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn events_follow_a_containers_life_as_dockers_do() {
    let Some(hull) = setup("events_follow_a_containers_life_as_dockers_do") else {
        return;
    };
    hull.ok(&["run", "--rm", "busybox", "true"]); // makes the image first
    let since = hull.ok(&["version", "--format", "{{.Server.Version}}"]);
    assert!(!since.trim().is_empty());
    // A follower started before the container sees its events live.
    let follower = hull
        .cmd(&[
            "events",
            "--filter",
            "container=ev",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes \"exitCode\"}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // `events` follows until killed: killed on drop, also when an assertion fails.
    let mut follower = KillOnDrop(follower);
    let (lines_tx, lines) = mpsc::channel();
    let reader = BufReader::new(follower.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(300)); // the follower is at the journal's end
    let run = hull.run(&[
        "run", "--name", "ev", "-l", "tier=web", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(run.status.code(), Some(3));
    hull.ok(&["rm", "ev"]);
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    drop(follower);
    assert_eq!(
        seen,
        [
            "create ev <no value>",
            "start ev <no value>",
            "die ev 3",
            "destroy ev <no value>"
        ]
    );

    // The same events replayed: Docker's line format, other containers filtered out.
    let replay = hull.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--filter",
        "label=tier=web",
    ]);
    let lines: Vec<&str> = replay.lines().collect();
    assert_eq!(lines.len(), 1, "{replay}");
    let fields: Vec<&str> = lines[0].splitn(5, ' ').collect();
    assert!(
        fields[0].ends_with('Z') && fields[0].contains('T'),
        "{replay}"
    );
    assert_eq!(&fields[1..3], ["container", "die"]);
    assert_eq!(fields[3].len(), 64);
    assert_eq!(fields[4], "(exitCode=3, image=busybox, name=ev, tier=web)");

    let bad = hull.run(&["events", "--filter", "colour=red"]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn system_df_counts_images_and_containers() {
    let Some(hull) = setup("system_df_counts_images_and_containers") else {
        return;
    };
    hull.ok(&["create", "--name", "idle", "busybox", "true"]);
    let rows = hull.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}={{.TotalCount}}/{{.Active}}",
    ]);
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        [
            "Images=1/1",
            "Containers=1/0",
            "Local Volumes=0/0",
            "Build Cache=0/0"
        ]
    );
    let table = hull.ok(&["system", "df"]);
    assert!(table.starts_with("TYPE "), "{table}");
    let sizes = hull.ok(&["system", "df", "--format", "{{.Size}}"]);
    assert_ne!(
        sizes.lines().next(),
        Some("0B"),
        "busybox takes room: {table}"
    );
    // Nothing uses the image once the container is gone: all of it is reclaimable.
    hull.ok(&["rm", "idle"]);
    let reclaim = hull.ok(&["system", "df", "--format", "{{.Reclaimable}}"]);
    assert!(
        reclaim.lines().next().unwrap().ends_with("(100%)"),
        "{reclaim}"
    );
}

#[test]
fn port_lists_nothing_unpublished_and_fails_for_a_named_port() {
    let Some(hull) = setup("port_lists_nothing_unpublished_and_fails_for_a_named_port") else {
        return;
    };
    hull.ok(&["create", "--name", "po", "busybox", "true"]);
    assert_eq!(hull.ok(&["port", "po"]), "");
    let named = hull.run(&["port", "po", "80"]);
    assert_eq!(named.status.code(), Some(1));
    assert!(
        hull_tests::stderr(&named).contains("No public port '80/tcp' published for po"),
        "{}",
        hull_tests::stderr(&named)
    );
    assert_eq!(hull.run(&["port", "nosuch"]).status.code(), Some(1));
    assert!(stdout(&hull.run(&["version"])).contains("API version:"));
}

#[test]
fn system_prune_asks_then_removes_stopped_containers_and_dangling_images() {
    let Some(hull) = setup("system_prune_asks_then_removes_stopped_containers_and_dangling_images")
    else {
        return;
    };
    let stopped = hull.ok(&["create", "--name", "stopped", "busybox", "true"]);
    hull.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    let answer = |text: &str| {
        let mut child = hull
            .cmd(&["system", "prune"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        hull_tests::finish(child, &["system", "prune"])
    };
    // "n" (or no answer) keeps everything.
    let kept = answer("n\n");
    assert!(stdout(&kept).starts_with("WARNING! This will remove:"));
    assert_eq!(hull.ok(&["ps", "-aq"]).lines().count(), 2);
    // "y" removes the stopped container only; the running one and its image stay.
    let pruned = answer("y\n");
    assert!(
        stdout(&pruned).contains(&format!("Deleted Containers:\n{stopped}")),
        "{}",
        stdout(&pruned)
    );
    assert_eq!(hull.ok(&["ps", "-a", "--format", "{{.Names}}"]), "up\n");
    assert_eq!(hull.ok(&["images", "-q"]).lines().count(), 1);
    // -f asks nothing; nothing left to remove.
    assert_eq!(
        hull.ok(&["system", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
}
