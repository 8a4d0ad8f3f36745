//! `hull cp` as Docker's `docker cp`, both ways, through the real binary: a file to a new
//! name, into a directory, a directory to a new one or into one, `dir/.` for its content,
//! `-` for a tar stream on stdout or stdin, `-a` keeping owners; Docker's errors with exit
//! status 1; a stopped container copied from and to (through a helper VM on its disks);
//! and the host never following a symlink the guest made.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{finish, setup, stderr, wait_until, which, Hull};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

/// `hull ARGS` with `input` on its stdin, to completion.
fn run_with_input(hull: &Hull, args: &[&str], input: &[u8]) -> Output {
    let mut child = hull
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hull starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = finish(child, args);
    let _ = writer.join();
    output
}

/// `hull ARGS` must fail with Docker's status 1 and say `expected` on stderr.
fn fails_with(hull: &Hull, args: &[&str], expected: &str) {
    let out = hull.run(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "hull {args:?}: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(expected),
        "hull {args:?} should say {expected:?}: {}",
        stderr(&out)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A running container `box` with /data/a, /data/sub/b and /data/etc-link -> /etc.
fn start_box(hull: &Hull) {
    let script = "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b \
                  && ln -s /etc /data/etc-link && touch /tmp/ready; \
                  while true; do sleep 1; done";
    hull.ok(&[
        "run", "-d", "--name", "box", "-h", "cp-box", "busybox", "sh", "-c", script,
    ]);
    assert!(
        wait_until(Duration::from_secs(60), || hull
            .run(&["exec", "box", "test", "-e", "/tmp/ready"])
            .status
            .success()),
        "the container set up its files"
    );
}

#[test]
fn cp_copies_out_of_a_running_container_as_docker_does() {
    let Some(hull) = setup("cp_copies_out_of_a_running_container_as_docker_does") else {
        return;
    };
    start_box(&hull);
    let host = tempfile::tempdir().unwrap();
    let h = |name: &str| host.path().join(name);

    // A file to a new name, and into an existing directory under its own name.
    hull.ok(&["cp", "box:/data/a", path(&h("a-copy"))]);
    assert_eq!(fs::read_to_string(h("a-copy")).unwrap(), "one\n");
    fs::create_dir(h("into")).unwrap();
    hull.ok(&["cp", "box:data/a", path(&h("into"))]);
    assert_eq!(fs::read_to_string(h("into/a")).unwrap(), "one\n");
    // A file over an existing file.
    hull.ok(&["cp", "box:/data/sub/b", path(&h("a-copy"))]);
    assert_eq!(fs::read_to_string(h("a-copy")).unwrap(), "two\n");

    // A directory to a new one (with the source's content), into an existing one (under its
    // own name), and `dir/.` into an existing one (its content).
    hull.ok(&["cp", "box:/data", path(&h("new"))]);
    assert_eq!(fs::read_to_string(h("new/sub/b")).unwrap(), "two\n");
    assert_eq!(
        fs::read_link(h("new/etc-link")).unwrap(),
        Path::new("/etc"),
        "a guest symlink arrives as a link, not as the host's /etc"
    );
    hull.ok(&["cp", "box:/data", path(&h("into"))]);
    assert_eq!(fs::read_to_string(h("into/data/a")).unwrap(), "one\n");
    fs::create_dir(h("content")).unwrap();
    hull.ok(&["cp", "box:/data/.", path(&h("content"))]);
    assert_eq!(fs::read_to_string(h("content/sub/b")).unwrap(), "two\n");
    assert!(
        !h("content/data").exists(),
        "the content, not the directory"
    );

    // -L copies what a link points to (the container's /etc, not the host's).
    hull.ok(&["cp", "-L", "box:/data/etc-link", path(&h("their-etc"))]);
    assert_eq!(
        fs::read_to_string(h("their-etc/hostname")).unwrap(),
        "cp-box\n"
    );

    // `-`: a tar stream on stdout, its entries named as Docker names them.
    let out = hull.run(&["cp", "box:/data/sub", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    fs::write(h("sub.tar"), &out.stdout).unwrap();
    if let Some(tar) = which("tar") {
        let list = std::process::Command::new(tar)
            .args(["-tf", path(&h("sub.tar"))])
            .output()
            .unwrap();
        let names = String::from_utf8_lossy(&list.stdout);
        assert!(
            names.lines().any(|l| l == "sub/b") && names.lines().any(|l| l == "sub/"),
            "{names}"
        );
    } else {
        eprintln!("no tar on this host: the stream's entry names are not checked");
    }

    // Docker's errors, all exit status 1.
    fails_with(
        &hull,
        &["cp", "box:/nope", path(&h("x"))],
        "Could not find the file /nope in container box",
    );
    fails_with(
        &hull,
        &["cp", "nosuch:/etc", path(&h("x"))],
        "No such container: nosuch",
    );
    fails_with(
        &hull,
        &["cp", "box:/data/a", path(&h("missing/dir/x"))],
        "does not exist",
    );
    fails_with(
        &hull,
        &["cp", "box:/data", path(&h("a-copy"))],
        "cannot copy directory",
    );
    fails_with(
        &hull,
        &["cp", "box:/data/a", path(&h("absent/"))],
        "no such directory",
    );
    fails_with(
        &hull,
        &["cp", "a", "b"],
        "must specify at least one container",
    );
}

#[test]
fn cp_copies_into_running_and_stopped_containers() {
    let Some(hull) = setup("cp_copies_into_running_and_stopped_containers") else {
        return;
    };
    start_box(&hull);
    let host = tempfile::tempdir().unwrap();
    let h = |name: &str| host.path().join(name);
    fs::write(h("in.txt"), "in\n").unwrap();
    fs::create_dir_all(h("tree/deep")).unwrap();
    fs::write(h("tree/deep/f"), "deep\n").unwrap();

    // A file to a new name; a directory into an existing one; `dir/.` to a new one.
    hull.ok(&["cp", path(&h("in.txt")), "box:/tmp/in.txt"]);
    assert_eq!(hull.ok(&["exec", "box", "cat", "/tmp/in.txt"]), "in\n");
    hull.ok(&["cp", path(&h("tree")), "box:/tmp"]);
    assert_eq!(
        hull.ok(&["exec", "box", "cat", "/tmp/tree/deep/f"]),
        "deep\n"
    );
    hull.ok(&["cp", &format!("{}/.", path(&h("tree"))), "box:/tmp/content"]);
    assert_eq!(
        hull.ok(&["exec", "box", "cat", "/tmp/content/deep/f"]),
        "deep\n"
    );
    // Owners: root's without -a, the source's with it.
    assert_eq!(
        hull.ok(&["exec", "box", "stat", "-c", "%u", "/tmp/in.txt"]),
        "0\n"
    );
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(h("in.txt"), Some(1234), Some(4321)).unwrap();
        hull.ok(&["cp", "-a", path(&h("in.txt")), "box:/tmp/owned"]);
        assert_eq!(
            hull.ok(&["exec", "box", "stat", "-c", "%u:%g", "/tmp/owned"]),
            "1234:4321\n"
        );
    }

    // `-`: a tar stream from stdin, extracted into the directory.
    let out = hull.run(&["cp", "box:/data/sub", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let back = run_with_input(&hull, &["cp", "-", "box:/tmp/content"], &out.stdout);
    assert!(back.status.success(), "{}", stderr(&back));
    assert_eq!(
        hull.ok(&["exec", "box", "cat", "/tmp/content/sub/b"]),
        "two\n"
    );

    // Docker's errors.
    fails_with(
        &hull,
        &["cp", path(&h("in.txt")), "box:/nonexistent/dir/x"],
        "Could not find the file /nonexistent/dir in container box",
    );
    fails_with(
        &hull,
        &["cp", path(&h("no-such-source")), "box:/tmp"],
        "no such file or directory",
    );
    let out = run_with_input(&hull, &["cp", "-", "box:/tmp/in.txt"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must be a directory"),
        "{}",
        stderr(&out)
    );

    // A stopped container: copied to and from through a helper VM on its disks; what was
    // copied in is there when it runs again, and its state is untouched.
    hull.ok(&["kill", "box"]);
    assert!(wait_until(Duration::from_secs(30), || hull
        .inspect("box", "{{.State.Status}}")
        == "exited"));
    let exit_code = hull.inspect("box", "{{.State.ExitCode}}");
    hull.ok(&["cp", path(&h("in.txt")), "box:/data/while-stopped"]);
    hull.ok(&["cp", "box:/data/while-stopped", path(&h("round-trip"))]);
    assert_eq!(fs::read_to_string(h("round-trip")).unwrap(), "in\n");
    assert_eq!(hull.inspect("box", "{{.State.Status}}"), "exited");
    assert_eq!(hull.inspect("box", "{{.State.ExitCode}}"), exit_code);
    fails_with(
        &hull,
        &["cp", "box:/nope", path(&h("y"))],
        "Could not find the file /nope in container box",
    );
    hull.ok(&["start", "box"]);
    assert!(wait_until(Duration::from_secs(60), || hull
        .run(&["exec", "box", "cat", "/data/while-stopped"])
        .stdout
        == b"in\n"));
}

#[test]
fn cp_never_follows_a_guest_symlink_on_the_host() {
    let Some(hull) = setup("cp_never_follows_a_guest_symlink_on_the_host") else {
        return;
    };
    // The container has a directory `d` with `sub/file` and `etc -> /etc`...
    let script = "mkdir -p /d/sub && echo payload > /d/sub/file && ln -s /etc /d/etc \
                  && touch /tmp/ready; while true; do sleep 1; done";
    hull.ok(&["run", "-d", "--name", "sym", "busybox", "sh", "-c", script]);
    assert!(wait_until(Duration::from_secs(60), || hull
        .run(&["exec", "sym", "test", "-e", "/tmp/ready"])
        .status
        .success()));
    let host = tempfile::tempdir().unwrap();
    let victim = host.path().join("victim");
    fs::create_dir(&victim).unwrap();
    let dest = host.path().join("dest");
    fs::create_dir(&dest).unwrap();
    // ...and the host destination has `sub` pointing elsewhere: extracting `d/.` there must
    // not write `sub/file` through it.
    std::os::unix::fs::symlink(&victim, dest.join("sub")).unwrap();
    let out = hull.run(&["cp", "sym:/d/.", path(&dest)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot overwrite non-directory"),
        "Docker's refusal: {}",
        stderr(&out)
    );
    assert!(
        !victim.join("file").exists(),
        "nothing written through the link"
    );

    // The guest's link to /etc arrives as a link; the host's /etc is neither read nor
    // written, and a file copied "into" that link on the host lands nowhere else.
    let out_dir = host.path().join("out");
    hull.ok(&["cp", "sym:/d", path(&out_dir)]);
    assert_eq!(
        fs::read_link(out_dir.join("etc")).unwrap(),
        Path::new("/etc")
    );
    assert!(fs::symlink_metadata(out_dir.join("etc"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(out_dir.join("sub/file")).unwrap(),
        "payload\n"
    );
}
