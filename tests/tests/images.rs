//! Image verbs through the CLI (no VM needed: only the hull binary).

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{hull_binary, stdout};
use std::process::Command;

fn hull(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(hull_binary().expect("checked"));
    command.args(args).env("HULL_ROOT", root);
    hull_tests::offline_registries(&mut command);
    command.output().unwrap()
}

#[test]
fn images_tag_save_load_rmi_round_trip() {
    if hull_binary().is_none() {
        eprintln!(
            "SKIPPED images_tag_save_load_rmi_round_trip: run `cargo build -p hull-cli` first"
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let bootstrap = hull(root, &["image", "bootstrap", "busybox"]);
    if !bootstrap.status.success() {
        eprintln!(
            "SKIPPED images_tag_save_load_rmi_round_trip: cannot bootstrap busybox: {}",
            String::from_utf8_lossy(&bootstrap.stderr)
        );
        return;
    }
    let list = stdout(&hull(root, &["images"]));
    assert!(
        list.starts_with("REPOSITORY   TAG       IMAGE ID"),
        "{list}"
    );
    assert!(list.contains("busybox      latest"), "{list}");
    assert!(hull(root, &["tag", "busybox", "mine:v1"]).status.success());
    let ids = stdout(&hull(root, &["images", "-q"]));
    assert_eq!(ids.lines().count(), 1, "one image, two names: {ids}");

    let tar = root.join("saved.tar");
    assert!(
        hull(root, &["save", "-o", tar.to_str().unwrap(), "mine:v1"])
            .status
            .success()
    );
    let other = tempfile::tempdir().unwrap();
    let loaded = hull(other.path(), &["load", "-i", tar.to_str().unwrap()]);
    assert!(loaded.status.success());
    assert_eq!(stdout(&loaded), "Loaded image: mine:v1\n");
    assert_eq!(
        stdout(&hull(other.path(), &["images", "-q"])),
        ids,
        "same id after the round trip"
    );

    let rmi = stdout(&hull(root, &["rmi", "mine:v1"]));
    assert_eq!(rmi, "Untagged: mine:v1\n");
    let json = stdout(&hull(root, &["images", "--format", "json"]));
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(row["Repository"], "busybox");
    let history = stdout(&hull(root, &["history", "busybox"]));
    assert!(history.starts_with("IMAGE"), "{history}");
    let missing = hull(root, &["rmi", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn version_and_help_work_everywhere() {
    let Some(bin) = hull_binary() else {
        eprintln!("SKIPPED version_and_help_work_everywhere: run `cargo build -p hull-cli` first");
        return;
    };
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(stdout(&version).starts_with("hull "));
    for verb in [
        "run", "ps", "logs", "stop", "kill", "rm", "start", "attach", "wait", "inspect", "images",
        "load", "save", "rmi", "tag", "history",
    ] {
        let help = Command::new(&bin).args([verb, "--help"]).output().unwrap();
        assert!(help.status.success(), "{verb} --help");
        assert!(stdout(&help).contains("Usage: hull"), "{verb}");
    }
    let help = Command::new(&bin).args(["help", "run"]).output().unwrap();
    assert!(stdout(&help).contains("--interactive"));
    let unknown = Command::new(&bin).arg("frobnicate").output().unwrap();
    assert_eq!(unknown.status.code(), Some(125));
}

/// `hull ps | head -0` style: stdout is a pipe nobody reads. Listing verbs end quietly (killed
/// by SIGPIPE, as Docker's are) instead of panicking about a broken pipe.
#[test]
fn listing_into_a_closed_pipe_ends_quietly() {
    let Some(bin) = hull_binary() else {
        eprintln!(
            "SKIPPED listing_into_a_closed_pipe_ends_quietly: run `cargo build -p hull-cli` first"
        );
        return;
    };
    let root = tempfile::tempdir().unwrap();
    for verb in [&["ps", "-a"][..], &["images"], &["info"]] {
        let mut child = Command::new(&bin)
            .args(verb)
            .env("HULL_ROOT", root.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before hull starts writing (it takes milliseconds to get there).
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{verb:?}: {stderr}");
        use std::os::unix::process::ExitStatusExt;
        assert!(
            output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
            "{verb:?}: {:?} {stderr}",
            output.status
        );
    }
}

#[test]
fn untagged_debian_names_the_debian_base_image_as_docker_users_type_it() {
    if hull_binary().is_none() {
        eprintln!("SKIPPED untagged_debian_names_the_debian_base_image_as_docker_users_type_it: run `cargo build -p hull-cli` first");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    if !hull(root, &["image", "bootstrap", "busybox"])
        .status
        .success()
    {
        eprintln!("SKIPPED untagged_debian_names_the_debian_base_image_as_docker_users_type_it: cannot bootstrap busybox");
        return;
    }
    // A stand-in for a built debian:bookworm: debootstrap takes minutes (slow tier).
    assert!(hull(root, &["tag", "busybox", "debian:bookworm"])
        .status
        .success());
    let created = hull(root, &["create", "--name", "deb", "debian", "true"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let image_id = |name: &str| stdout(&hull(root, &["image", "inspect", "-f", "{{.Id}}", name]));
    assert_eq!(image_id("debian:latest"), image_id("busybox"));
    let tags = stdout(&hull(
        root,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
    ));
    assert!(tags.contains("debian:latest"), "{tags}");
    assert!(tags.contains("debian:bookworm"), "{tags}");
}
