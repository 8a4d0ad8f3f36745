//! Warm start (issue #19): containers are restores of a zygote, a VM booted once to the
//! point where hull-init waits for its run spec. They must behave exactly as cold-booted
//! ones, each with its own clock, random state and name; a damaged zygote is never used.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{
    epoch_seconds, fresh_machine, stderr, stdout, with_input, Hull, FRESH_MACHINE_PROBE,
};
use std::path::{Path, PathBuf};

/// A [`Hull`] whose zygotes live in its own directory (so damaging them touches no other
/// test), or None after printing why the test is skipped.
fn setup(test: &str) -> Option<(Hull, PathBuf)> {
    let hull = hull_tests::setup(test)?;
    let zygotes = hull.root.path().join("warm");
    Some((hull, zygotes))
}

fn hull_in(hull: &Hull, zygotes: &Path, args: &[&str]) -> std::process::Output {
    let mut command = hull.cmd(args);
    command
        .env("HULL_WARM_CACHE", zygotes)
        .env_remove("HULL_WARM");
    with_input(&mut command, b"")
}

fn ok_in(hull: &Hull, zygotes: &Path, args: &[&str]) -> String {
    let out = hull_in(hull, zygotes, args);
    assert!(out.status.success(), "hull {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Whether container `name`'s guest was restored (hull-init says so on COM1, and its boot
/// marks at the exit gain `restored=`).
fn was_restored(hull: &Hull, name: &str) -> bool {
    let (log, text) = hull.vm_log(name);
    let said = text.contains("hull-init: restored from a warm-start zygote");
    if text.contains("CLOCK_BOOTTIME") {
        assert_eq!(
            said,
            text.contains(" restored="),
            "{}: {text}",
            log.display()
        );
    }
    said
}

/// The one zygote in `zygotes` (its directory).
fn the_zygote(zygotes: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(zygotes)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
fn warm_and_cold_containers_give_the_same_output_exit_codes_and_stdin() {
    let Some((hull, zygotes)) = setup("warm_and_cold_containers_give_the_same_output") else {
        return;
    };
    for (index, cold) in [false, true].into_iter().enumerate() {
        let mode: &[&str] = if cold { &["--cold"] } else { &[] };
        let name = format!("echo{index}");
        let mut args = vec!["run", "--name", &name];
        args.extend(mode);
        args.extend(["busybox", "echo", "hello from a VM"]);
        assert_eq!(ok_in(&hull, &zygotes, &args), "hello from a VM\n");
        assert_eq!(was_restored(&hull, &name), !cold, "cold: {cold}");

        let mut args = vec!["run", "--rm"];
        args.extend(mode);
        args.extend(["busybox", "sh", "-c", "echo out; echo err >&2; exit 7"]);
        let out = hull_in(&hull, &zygotes, &args);
        assert_eq!(out.status.code(), Some(7));
        assert_eq!(
            (stdout(&out), stderr(&out)),
            ("out\n".into(), "err\n".into())
        );

        let mut args = vec!["run", "--rm", "-i"];
        args.extend(mode);
        args.extend(["busybox", "sh", "-c", "wc -c; cat /proc/cmdline >/dev/null"]);
        let mut command = hull.cmd(&args);
        command.env("HULL_WARM_CACHE", &zygotes);
        let out = with_input(&mut command, &[b'x'; 100_000]);
        assert_eq!(stdout(&out).trim(), "100000", "{}", stderr(&out));
    }
    // The zygote was made once and shows in `hull system warm`.
    let listed = ok_in(
        &hull,
        &zygotes,
        &["system", "warm", "--format", "{{.Engine}} {{.Memory}}"],
    );
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.starts_with("qemu "), "{listed}");
}

#[test]
fn restored_containers_have_their_own_random_state_clock_and_name() {
    let Some((hull, zygotes)) = setup("restored_containers_have_their_own_random_state") else {
        return;
    };
    let mut seen = Vec::new();
    for name in ["r1", "r2"] {
        let before = epoch_seconds();
        let out = ok_in(
            &hull,
            &zygotes,
            &[
                "run",
                "--name",
                name,
                "busybox",
                "sh",
                "-c",
                FRESH_MACHINE_PROBE,
            ],
        );
        let after = epoch_seconds();
        assert!(was_restored(&hull, name));
        seen.push(fresh_machine(&out, before, after));
    }
    assert_ne!(
        seen[0].0, seen[1].0,
        "two restores read the same random bytes"
    );
    assert_ne!(seen[0].1, seen[1].1, "hostnames");
}

#[test]
fn exec_stop_start_and_the_network_work_after_a_restore() {
    let Some((hull, zygotes)) = setup("exec_stop_start_and_the_network_work_after_a_restore")
    else {
        return;
    };
    ok_in(&hull, &zygotes, &["network", "create", "warmnet"]);
    for name in ["srv", "cli"] {
        ok_in(
            &hull,
            &zygotes,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "warmnet",
                "busybox",
                "sleep",
                "300",
            ],
        );
        assert!(was_restored(&hull, name));
    }
    let mac = hull.inspect("cli", "{{.NetworkSettings.Networks.warmnet.MacAddress}}");
    let link = ok_in(
        &hull,
        &zygotes,
        &["exec", "cli", "cat", "/sys/class/net/eth0/address"],
    );
    assert_eq!(
        link.trim(),
        mac,
        "the NIC has the container's MAC, not the zygote's"
    );
    let ping = ok_in(
        &hull,
        &zygotes,
        &["exec", "cli", "ping", "-c", "2", "-W", "5", "srv"],
    );
    assert!(ping.contains("2 packets received"), "{ping}");
    ok_in(&hull, &zygotes, &["stop", "-t", "1", "cli"]);
    ok_in(&hull, &zygotes, &["start", "cli"]);
    assert!(was_restored(&hull, "cli"));
    let ping = ok_in(
        &hull,
        &zygotes,
        &["exec", "cli", "ping", "-c", "1", "-W", "5", "srv"],
    );
    assert!(ping.contains("1 packets received"), "{ping}");
    ok_in(&hull, &zygotes, &["rm", "-f", "srv", "cli"]);
}

#[test]
fn a_damaged_or_stale_zygote_is_never_restored_and_is_made_again() {
    let Some((hull, zygotes)) = setup("a_damaged_or_stale_zygote_is_never_restored") else {
        return;
    };
    ok_in(
        &hull,
        &zygotes,
        &["run", "--name", "first", "busybox", "true"],
    );
    assert!(was_restored(&hull, "first"));
    let zygote = the_zygote(&zygotes);
    let state = zygote.join("state");
    let meta_of = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap()
    };
    // A run whose zygote is damaged still prints the right output.
    let echoes_ok = |name: &str| {
        let args = ["run", "--name", name, "busybox", "echo", "ok"];
        assert_eq!(ok_in(&hull, &zygotes, &args), "ok\n");
    };

    // Truncated: discarded before QEMU sees it; this container boots cold, the next zygote
    // is made meanwhile.
    let bytes = std::fs::read(&state).unwrap();
    std::fs::write(&state, &bytes[..bytes.len() / 2]).unwrap();
    echoes_ok("t");
    let remade = the_zygote(&zygotes);
    assert_eq!(
        std::fs::metadata(remade.join("state")).unwrap().len(),
        meta_of(&remade)["state_len"].as_u64().unwrap()
    );

    // Same length, garbage inside: QEMU refuses to load it; the run falls back to a cold
    // boot with the right output, and the zygote is thrown away.
    let mut garbage = std::fs::read(&state).unwrap();
    for byte in &mut garbage[64..] {
        *byte = 0x5a;
    }
    std::fs::write(&state, &garbage).unwrap();
    echoes_ok("g");
    assert!(!was_restored(&hull, "g"), "a garbage zygote booted");
    assert!(!state.exists(), "the garbage zygote was kept");

    // Its memory file cut short: a restore would map zeros past the end. Discarded before
    // QEMU sees it and made again (this container is restored from the new one).
    ok_in(&hull, &zygotes, &["run", "--rm", "busybox", "true"]);
    let damaged = the_zygote(&zygotes);
    let made_before = meta_of(&damaged);
    let memory = damaged.join("memory");
    let full = std::fs::metadata(&memory).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&memory)
        .and_then(|file| file.set_len(full / 2))
        .unwrap();
    echoes_ok("m");
    let remade = the_zygote(&zygotes);
    assert_ne!(meta_of(&remade), made_before, "the damaged zygote was kept");
    assert_eq!(
        std::fs::metadata(remade.join("memory")).unwrap().len(),
        full
    );

    // A zygote of another format version: discarded, made again, then restored.
    let mut meta = meta_of(&the_zygote(&zygotes));
    let current = meta["format"].clone();
    meta["format"] = 999.into();
    std::fs::write(the_zygote(&zygotes).join("meta.json"), meta.to_string()).unwrap();
    ok_in(&hull, &zygotes, &["run", "--name", "v", "busybox", "true"]);
    let meta = meta_of(&the_zygote(&zygotes));
    assert_eq!(meta["format"], current, "{meta}");
    ok_in(
        &hull,
        &zygotes,
        &["run", "--name", "after", "busybox", "true"],
    );
    assert!(was_restored(&hull, "after"));
    // `hull system warm --rm` removes it (and lists none after).
    let removed = ok_in(&hull, &zygotes, &["system", "warm", "--rm"]);
    assert_eq!(removed, "Removed 1 warm-start zygote\n");
    let listed = ok_in(
        &hull,
        &zygotes,
        &["system", "warm", "--format", "{{.Path}}"],
    );
    assert_eq!(listed, "");
}

/// Restores map the zygote's memory file copy-on-write: the guest's pages stay one copy in
/// the host's page cache. A container that allocates and frees memory gets it back to the
/// host (free page reporting) without a byte of that file changing, which every other
/// restore maps (QEMU 7.2 would punch holes in it: `engine/src/vm/qemu_memory.rs`).
#[test]
fn freed_memory_goes_back_to_the_host_and_the_zygotes_memory_stays_intact() {
    let Some((hull, zygotes)) = setup("freed_memory_goes_back_to_the_host") else {
        return;
    };
    ok_in(&hull, &zygotes, &["run", "--rm", "busybox", "true"]);
    let memory = the_zygote(&zygotes).join("memory");
    for file in [&memory, &the_zygote(&zygotes).join("state")] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    // The guest memory the zygote never touched is holes in the file, and punching a hole
    // into a hole changes no byte: fill them (free guest pages, whatever they hold) so a
    // punched hole would show.
    fill_holes(&memory, 0xa5);
    let before = std::fs::read(&memory).unwrap();
    let script = "dd if=/dev/zero of=/dev/null bs=150M count=1 2>/dev/null; echo freed; sleep 60";
    ok_in(
        &hull,
        &zygotes,
        &["run", "-d", "--name", "hog", "busybox", "sh", "-c", script],
    );
    let pid = hull.inspect("hog", "{{.State.Pid}}");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(
        maps.contains(&memory.display().to_string()),
        "the VMM does not map the zygote's memory: {maps}"
    );
    let rss_kib = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kib| kib.trim().trim_end_matches(" kB").parse().ok())
            .unwrap()
    };
    // The guest reports freed 2 MiB blocks every ~2 s; bounded wait.
    let mut peak = 0;
    let mut given_back = false;
    for _ in 0..60 {
        let rss = rss_kib();
        peak = peak.max(rss);
        if peak > 150 * 1024 && rss + 100 * 1024 < peak {
            given_back = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(
        given_back,
        "RSS peaked at {peak} KiB and is {} KiB",
        rss_kib()
    );
    assert!(
        std::fs::read(&memory).unwrap() == before,
        "a restore changed the zygote's memory file"
    );
    ok_in(&hull, &zygotes, &["rm", "-f", "hog"]);
}

/// Writes `byte` into every hole of the sparse file at `path`.
fn fill_holes(path: &Path, byte: u8) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let len = i64::try_from(file.metadata().unwrap().len()).unwrap();
    let seek = |offset: i64, whence: libc::c_int| {
        // SAFETY: lseek on an fd this function owns.
        let at = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
        if at < 0 {
            len
        } else {
            at
        }
    };
    let mut filled = 0;
    let mut hole = seek(0, libc::SEEK_HOLE);
    while hole < len {
        let data = seek(hole, libc::SEEK_DATA).min(len);
        let fill = vec![byte; usize::try_from(data - hole).unwrap()];
        file.write_all_at(&fill, u64::try_from(hole).unwrap())
            .unwrap();
        filled += fill.len();
        hole = seek(data, libc::SEEK_HOLE);
    }
    assert!(
        filled > 64 << 20,
        "only {filled} bytes of holes in {}",
        path.display()
    );
}

#[test]
fn the_environment_switch_and_volumes_boot_cold() {
    let Some((hull, zygotes)) = setup("the_environment_switch_and_volumes_boot_cold") else {
        return;
    };
    let mut command = hull.cmd(&["run", "--name", "off", "busybox", "true"]);
    command
        .env("HULL_WARM_CACHE", &zygotes)
        .env("HULL_WARM", "off");
    assert!(with_input(&mut command, b"").status.success());
    assert!(!was_restored(&hull, "off"));
    assert!(!zygotes.exists() || std::fs::read_dir(&zygotes).unwrap().next().is_none());
    if hull_tests::which("virtiofsd").is_some() {
        // QEMU cannot save a vhost-user-fs device: a container with a volume boots.
        ok_in(
            &hull,
            &zygotes,
            &[
                "run",
                "--name",
                "vol",
                "-v",
                "data:/data",
                "busybox",
                "true",
            ],
        );
        assert!(!was_restored(&hull, "vol"));
    }
}
