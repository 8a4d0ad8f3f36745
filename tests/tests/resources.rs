//! Resource limits and parallel runs.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stdout};
use std::collections::HashSet;

#[test]
fn memory_limit_oom_kills_and_inspect_says_so() {
    let Some(hull) = setup("memory_limit_oom_kills_and_inspect_says_so") else {
        return;
    };
    // A 200 MB shell variable under a 64 MB limit.
    let out = hull.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(out.status.code(), Some(137), "stdout: {}", stdout(&out));
    assert_eq!(hull.inspect("hog", "{{.State.OOMKilled}}"), "true");
}

#[test]
fn ten_parallel_runs_succeed_and_share_layer_files() {
    let Some(hull) = setup("ten_parallel_runs_succeed_and_share_layer_files") else {
        return;
    };
    hull.ok(&["image", "bootstrap", "busybox"]);
    let children: Vec<_> = (0..10)
        .map(|i| {
            hull.cmd(&["run", "--rm", "busybox", "echo", &format!("run-{i}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = hull_tests::finish(child, &["run", "--rm"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(stdout(&out), format!("run-{i}\n"));
    }
    // One block image per layer in the store, used by all ten.
    let layers: HashSet<_> = std::fs::read_dir(hull.root.path().join("layers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let inspect = hull.ok(&["image", "inspect", "busybox"]);
    let value: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let used = value[0]["Hull"]["LayerImages"].as_array().unwrap().len();
    assert!(layers.len() <= used.max(1) * 2, "{layers:?}");
}
