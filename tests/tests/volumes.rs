//! Volumes, bind mounts and tmpfs (issue #16): named volumes that outlive containers and
//! are shared by running ones, bind mounts of host directories, read-only mounts and
//! roots, copy-up, `--volumes-from`, the checks made before any VM starts, and the
//! virtiofsd of a container going away with its VM.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{stderr, stdout, wait_until, Hull};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// A [`Hull`] for a volume test, or None after printing why it is skipped (no VM here, or
/// no virtiofsd to serve the share).
fn setup(test: &str) -> Option<Hull> {
    let hull = hull_tests::setup(test)?;
    if hull_tests::which("virtiofsd").is_none() && std::env::var_os("HULL_VIRTIOFSD").is_none() {
        eprintln!("SKIPPED {test}: no virtiofsd on PATH (scripts/install-deps.sh installs it)");
        return None;
    }
    Some(hull)
}

/// The pids of the virtiofsd processes serving container `id`.
fn virtiofsd_of(id: &str) -> Vec<u32> {
    let marker = format!("hull-{}", &id[..16]);
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline);
            (text.contains("virtiofsd") && (text.contains(&marker) || text.contains(id)))
                .then_some(pid)
        })
        .collect()
}

#[test]
fn a_named_volume_outlives_its_containers_and_is_refused_removal_while_used() {
    let Some(hull) =
        setup("a_named_volume_outlives_its_containers_and_is_refused_removal_while_used")
    else {
        return;
    };
    assert_eq!(
        hull.ok(&["volume", "create", "--label", "team=db", "data"]),
        "data\n"
    );
    hull.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/file",
    ]);
    let out = hull.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "busybox",
        "cat",
        "/data/file",
    ]);
    assert_eq!(out, "kept\n");
    let inspect: serde_json::Value =
        serde_json::from_str(&hull.ok(&["volume", "inspect", "data"])).unwrap();
    let mountpoint = inspect[0]["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(inspect[0]["Labels"]["team"], "db");
    assert_eq!(
        std::fs::read_to_string(format!("{mountpoint}/file")).unwrap(),
        "kept\n"
    );
    assert!(hull.ok(&["volume", "ls"]).contains("local     data"));

    // A stopped container that names it keeps it.
    let id = hull.ok(&["create", "-v", "data:/data", "busybox", "true"]);
    let refused = hull.run(&["volume", "rm", "data"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("volume is in use"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains(id.trim()), "{}", stderr(&refused));
    let mounts = hull.inspect(id.trim(), "{{json .Mounts}}");
    assert!(
        mounts.contains("\"Name\":\"data\"") && mounts.contains("\"Type\":\"volume\""),
        "{mounts}"
    );
    hull.ok(&["rm", id.trim()]);
    assert_eq!(hull.ok(&["volume", "rm", "data"]), "data\n");
    assert_eq!(hull.ok(&["volume", "ls", "-q"]), "");
    let unknown = hull.run(&["volume", "inspect", "data"]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn two_running_containers_share_one_volume() {
    let Some(hull) = setup("two_running_containers_share_one_volume") else {
        return;
    };
    let writer = "i=0; while [ $i -lt 40 ]; do echo line$i >> /shared/log; i=$((i+1)); sleep 0.1; done; sleep 600";
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "writer",
        "-v",
        "logs:/shared",
        "busybox",
        "sh",
        "-c",
        writer,
    ]);
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "reader",
        "-v",
        "logs:/shared",
        "busybox",
        "sleep",
        "600",
    ]);
    // The reader sees the writer's lines as they come, up to the last one.
    let seen = wait_until(Duration::from_secs(60), || {
        let out = hull.run(&["exec", "reader", "tail", "-n", "1", "/shared/log"]);
        stdout(&out) == "line39\n"
    });
    assert!(seen, "reader never saw line39");
    let count = hull.ok(&["exec", "reader", "wc", "-l", "/shared/log"]);
    assert!(count.starts_with("40 "), "{count}");
    // And the reader's writes reach the writer.
    hull.ok(&[
        "exec",
        "reader",
        "sh",
        "-c",
        "echo from-reader > /shared/back",
    ]);
    let back = hull.ok(&["exec", "writer", "cat", "/shared/back"]);
    assert_eq!(back, "from-reader\n");
}

#[test]
fn bind_mounts_read_write_read_only_owned_and_sandboxed() {
    let Some(hull) = setup("bind_mounts_read_write_read_only_owned_and_sandboxed") else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    let dir = host.path().join("code");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    std::fs::write(dir.join("from-host"), "host data\n").unwrap();
    // Links out of the shared directory: to the host's /etc, and to a host file beside it.
    let secret = host.path().join("secret");
    std::fs::write(&secret, "host secret\n").unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("etc-link")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("secret-link")).unwrap();
    let bind = format!("{}:/code", dir.display());

    let script = "cat /code/from-host; echo guest data > /code/from-guest; \
                  cat /code/etc-link/hostname; cat /code/secret-link 2>&1; true";
    let out = hull.ok(&[
        "run",
        "--rm",
        "--hostname",
        "guestbox",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "host data");
    // The link resolves in the guest: its own /etc, never the host's files.
    assert_eq!(lines[1], "guestbox");
    assert!(!out.contains("host secret"), "{out}");
    assert!(lines[2].contains("No such file"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.join("from-guest")).unwrap(),
        "guest data\n"
    );

    // Written as uid 1000 in the guest: owned by 1000 on the host.
    hull.ok(&[
        "run",
        "--rm",
        "-u",
        "1000:1000",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo x > /code/by-1000",
    ]);
    let meta = std::fs::metadata(dir.join("by-1000")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));

    // :ro and --mount readonly: EROFS, nothing written.
    for flags in [
        vec!["-v".to_string(), format!("{bind}:ro")],
        vec![
            "--mount".to_string(),
            format!("type=bind,source={},target=/code,readonly", dir.display()),
        ],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(["busybox", "sh", "-c", "echo no > /code/ro-write"]);
        let out = hull.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("Read-only file system"),
            "{}",
            stderr(&out)
        );
        assert!(!dir.join("ro-write").exists());
    }
}

#[test]
fn read_only_root_with_writable_tmpfs_and_volume() {
    let Some(hull) = setup("read_only_root_with_writable_tmpfs_and_volume") else {
        return;
    };
    let script = "echo a > /root-file 2>/dev/null && echo root-writable; \
                  echo b > /scratch/f && cat /scratch/f; echo c > /data/f && cat /data/f; \
                  grep -E ' /(scratch|tmp2) ' /proc/mounts";
    let out = hull.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        "--mount",
        "type=tmpfs,target=/tmp2,tmpfs-size=2097152",
        "-v",
        "rw:/data",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert!(!out.contains("root-writable"), "{out}");
    assert!(out.contains("b\nc\n"), "{out}");
    assert!(
        out.contains("/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k"),
        "{out}"
    );
    assert!(
        out.contains("/tmp2 tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k"),
        "{out}"
    );
}

#[test]
fn a_new_volume_takes_the_images_content_and_volumes_from_shares_it() {
    let Some(hull) = setup("a_new_volume_takes_the_images_content_and_volumes_from_shares_it")
    else {
        return;
    };
    // busybox's /etc (passwd, group, ...) is copied into the empty volume, owners kept.
    hull.ok(&[
        "create", "--name", "holder", "-v", "etc:/etc", "-v", "/anon", "busybox", "true",
    ]);
    hull.ok(&["start", "-a", "holder"]);
    let mountpoint = hull.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "etc"]);
    let passwd = std::path::Path::new(mountpoint.trim()).join("passwd");
    assert!(std::fs::read_to_string(&passwd)
        .unwrap()
        .starts_with("root:"));
    // A volume that is not empty is not overwritten: a change survives the next run.
    hull.ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "busybox",
        "sh",
        "-c",
        "echo changed > /etc/motd",
    ]);
    hull.ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "busybox",
        "sh",
        "-c",
        "test -f /etc/passwd",
    ]);
    assert_eq!(
        std::fs::read_to_string(passwd.with_file_name("motd")).unwrap(),
        "changed\n"
    );

    // --volumes-from: the same volumes, here read-only.
    let out = hull.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder:ro",
        "busybox",
        "sh",
        "-c",
        "cat /etc/motd; echo x > /anon/f",
    ]);
    assert_eq!(stdout(&out), "changed\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );

    // rm -v removes the anonymous volume, keeps the named one.
    let before = hull.ok(&["volume", "ls", "-q"]);
    assert_eq!(before.lines().count(), 2, "{before}");
    hull.ok(&["rm", "-v", "holder"]);
    assert_eq!(hull.ok(&["volume", "ls", "-q"]), "etc\n");
    // prune leaves named volumes unless -a.
    hull.ok(&["volume", "prune", "-f"]);
    assert_eq!(hull.ok(&["volume", "ls", "-q"]), "etc\n");
    assert!(hull
        .ok(&["volume", "prune", "-af"])
        .contains("Deleted Volumes:\netc\n"));
}

#[test]
fn killing_the_vmm_takes_its_virtiofsd_and_keeps_the_data() {
    let Some(hull) = setup("killing_the_vmm_takes_its_virtiofsd_and_keeps_the_data") else {
        return;
    };
    let id = hull.ok(&[
        "run",
        "-d",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo before > /data/f; sync; sleep 600",
    ]);
    let id = id.trim().to_string();
    assert!(
        wait_until(Duration::from_secs(30), || !virtiofsd_of(&id).is_empty()),
        "no virtiofsd"
    );
    let mountpoint = hull.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "keep"]);
    let file = std::path::Path::new(mountpoint.trim()).join("f");
    assert!(wait_until(Duration::from_secs(30), || file.exists()));
    let vmm: i32 = hull.inspect(&id, "{{.State.Pid}}").parse().unwrap();
    // SAFETY: kill(2) of the VMM's pid, read from inspect just before.
    assert_eq!(unsafe { libc::kill(vmm, libc::SIGKILL) }, 0);
    let gone = wait_until(Duration::from_secs(15), || virtiofsd_of(&id).is_empty());
    assert!(gone, "virtiofsd outlived its VMM: {:?}", virtiofsd_of(&id));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "before\n");
    // The volume still serves the next container.
    assert_eq!(
        hull.ok(&[
            "run",
            "--rm",
            "-v",
            "keep:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "before\n"
    );
}

#[test]
fn bad_mounts_are_refused_before_any_vm_starts() {
    let Some(hull) = setup("bad_mounts_are_refused_before_any_vm_starts") else {
        return;
    };
    for (flags, says) in [
        (
            vec!["-v", "./code:/code"],
            "includes invalid characters for a local volume name",
        ),
        (vec!["-v", "data:relative"], "mount path must be absolute"),
        (vec!["-v", "data:/a/../.."], "destination can't be '/'"),
        (
            vec!["--mount", "type=bind,source=/no/such/hull/dir,target=/x"],
            "bind source path does not exist",
        ),
        (
            vec!["-v", "v1:/x", "--tmpfs", "/x"],
            "Duplicate mount point: /x",
        ),
        (vec!["-v", "v1:/x:rx"], "invalid mode: rx"),
        (vec!["--volumes-from", "nobody"], "No such container"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(&flags);
        args.extend(["busybox", "true"]);
        let out = hull.run(&args);
        assert_eq!(out.status.code(), Some(125), "{flags:?}");
        assert!(stderr(&out).contains(says), "{flags:?}: {}", stderr(&out));
    }
    assert_eq!(hull.ok(&["ps", "-aq"]), "");
    assert_eq!(hull.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn cp_into_a_stopped_containers_volume_writes_the_volume() {
    let Some(hull) = setup("cp_into_a_stopped_containers_volume_writes_the_volume") else {
        return;
    };
    hull.ok(&[
        "create",
        "--name",
        "box",
        "-v",
        "cpvol:/data",
        "busybox",
        "true",
    ]);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "copied in\n").unwrap();
    let source = file.path().display().to_string();
    // The helper VM that serves `cp` for a stopped container mounts its volumes too.
    hull.ok(&["cp", &source, "box:/data/in"]);
    hull.ok(&["cp", &source, "box:/tmp/in"]);
    let mountpoint = hull.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "cpvol"]);
    let in_volume = std::path::Path::new(mountpoint.trim()).join("in");
    assert_eq!(std::fs::read_to_string(in_volume).unwrap(), "copied in\n");
    let out = hull.ok(&[
        "run",
        "--rm",
        "-v",
        "cpvol:/data",
        "busybox",
        "cat",
        "/data/in",
    ]);
    assert_eq!(out, "copied in\n");
}

#[test]
fn an_images_volume_is_an_anonymous_volume_seeded_from_the_image() {
    let Some(hull) = setup("an_images_volume_is_an_anonymous_volume_seeded_from_the_image") else {
        return;
    };
    hull.ok(&[
        "run",
        "--name",
        "mk",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo seeded > /data/seed",
    ]);
    hull.ok(&["commit", "-c", "VOLUME [\"/data\"]", "mk", "withvol:1"]);
    let out = hull.ok(&[
        "run",
        "--name",
        "user",
        "withvol:1",
        "sh",
        "-c",
        "cat /data/seed; echo more > /data/more; grep -c ' /data virtiofs' /proc/mounts",
    ]);
    assert_eq!(out, "seeded\n1\n");
    let name = hull.inspect("user", "{{range .Mounts}}{{.Name}}{{end}}");
    assert_eq!(name.len(), 64, "an anonymous volume: {name}");
    let volume = hull.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &name]);
    let more = std::path::Path::new(volume.trim()).join("more");
    assert_eq!(std::fs::read_to_string(more).unwrap(), "more\n");
    // The layer under it still has the image's content only; rm -v takes the volume.
    hull.ok(&["rm", "-v", "user"]);
    assert_eq!(hull.ok(&["volume", "ls", "-q"]), "");
}
