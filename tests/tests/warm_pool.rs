//! The warm pool (issue #19, `HULL_WARM_POOL`): restores of the zygote that rehearsed a
//! stand-in container and wait, running, to be handed a container. A container from the pool
//! must behave as any other (output, exit code, stdin, its own disks, random state, clock,
//! name, pause), a pool VM that died is skipped, and `hull system warm --rm` ends them all.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{
    epoch_seconds, fresh_machine, stderr, stdout, wait_until, with_input, Hull, FRESH_MACHINE_PROBE,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A test's hull with its own zygote cache and a pool of one; the pool's VMs are killed
/// when it is dropped (they outlive the hull processes that started them).
struct Pool {
    hull: Hull,
    zygotes: PathBuf,
}

impl Pool {
    fn setup(test: &str) -> Option<Self> {
        let hull = hull_tests::setup(test)?;
        let zygotes = hull.root.path().join("warm");
        Some(Self { hull, zygotes })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut command = self.hull.cmd(args);
        command
            .env("HULL_WARM_CACHE", &self.zygotes)
            .env("HULL_WARM_POOL", "1")
            .env_remove("HULL_WARM");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        with_input(&mut self.cmd(args), b"")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "hull {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// The ready VMs' entries.
    fn ready(&self) -> Vec<PathBuf> {
        let Ok(zygotes) = std::fs::read_dir(&self.zygotes) else {
            return Vec::new();
        };
        zygotes
            .flatten()
            .filter_map(|zygote| std::fs::read_dir(zygote.path().join("pool")).ok())
            .flat_map(|pool| pool.flatten().map(|e| e.path()))
            .filter(|entry| entry.extension().is_some_and(|e| e == "ready"))
            .collect()
    }

    /// Waits until the pool has a ready VM again (a filler rehearses for a few seconds).
    fn wait_ready(&self) -> PathBuf {
        assert!(
            wait_until(Duration::from_secs(120), || !self.ready().is_empty()),
            "no warm-pool VM became ready"
        );
        self.ready().remove(0)
    }

    /// Whether container `name`'s VM (which has ended) came from the pool: its guest's boot
    /// marks show the rehearsal, and it says it was restored.
    fn came_from_pool(&self, name: &str) -> bool {
        let (_, text) = self.hull.vm_log(name);
        text.contains("hull-init: restored from a warm-start zygote")
            && text.contains(" rehearsed=")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.run(&["system", "warm", "--rm"]);
    }
}

/// The pid of the VMM of the pool entry `entry`.
fn vmm_pid(entry: &Path) -> i32 {
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.join("vmm.json")).unwrap()).unwrap();
    i32::try_from(record["pid"].as_i64().unwrap()).unwrap()
}

fn alive(pid: i32) -> bool {
    // A zombie counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim()
            .starts_with('Z')
    })
}

#[test]
fn containers_from_the_pool_behave_as_restored_ones() {
    let Some(pool) = Pool::setup("containers_from_the_pool_behave_as_restored_ones") else {
        return;
    };
    // The first run makes the zygote and starts the filler.
    pool.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
    pool.wait_ready();
    let out = pool.run(&[
        "run",
        "--name",
        "p1",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; echo kept > /f; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        (stdout(&out), stderr(&out)),
        ("out\n".into(), "err\n".into())
    );
    assert!(pool.came_from_pool("p1"), "{}", pool.hull.vm_log("p1").1);
    // Its writes went to its own writable disk, not the rehearsal's.
    assert!(pool.ok(&["diff", "p1"]).lines().any(|l| l == "A /f"));

    pool.wait_ready();
    let mut command = pool.cmd(&[
        "run",
        "--rm",
        "-i",
        "--network",
        "none",
        "busybox",
        "wc",
        "-c",
    ]);
    let out = with_input(&mut command, &[b'x'; 100_000]);
    assert_eq!(stdout(&out).trim(), "100000", "{}", stderr(&out));

    let mut seen = Vec::new();
    for name in ["r1", "r2"] {
        pool.wait_ready();
        let before = epoch_seconds();
        let out = pool.ok(&[
            "run",
            "--name",
            name,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            FRESH_MACHINE_PROBE,
        ]);
        let after = epoch_seconds();
        assert!(
            pool.came_from_pool(name),
            "{name}: {}",
            pool.hull.vm_log(name).1
        );
        seen.push(fresh_machine(&out, before, after));
    }
    assert_ne!(
        seen[0].0, seen[1].0,
        "two pool VMs read the same random bytes"
    );
    assert_ne!(seen[0].1, seen[1].1, "hostnames");

    // A detached one: exec, pause (its QMP socket moved to the container) and stop.
    pool.wait_ready();
    pool.ok(&[
        "run",
        "-d",
        "--name",
        "d",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(pool.ok(&["exec", "d", "echo", "in d"]), "in d\n");
    pool.ok(&["pause", "d"]);
    assert_eq!(pool.hull.inspect("d", "{{.State.Status}}"), "paused");
    pool.ok(&["unpause", "d"]);
    pool.ok(&["stop", "-t", "1", "d"]);
    assert_eq!(pool.hull.inspect("d", "{{.State.Status}}"), "exited");
    // The boot marks are written at the exit.
    assert!(pool.came_from_pool("d"), "{}", pool.hull.vm_log("d").1);

    let entry = pool.wait_ready();
    let listed = pool.ok(&["system", "warm", "--format", "{{.Pool}}"]);
    assert_eq!(listed.trim(), "1");
    let pid = vmm_pid(&entry);
    assert!(alive(pid));
    pool.ok(&["system", "warm", "--rm"]);
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid)),
        "system warm --rm left the pool VM {pid} running"
    );
}

#[test]
fn a_pool_vm_that_died_is_skipped_and_replaced() {
    let Some(pool) = Pool::setup("a_pool_vm_that_died_is_skipped_and_replaced") else {
        return;
    };
    pool.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
    let entry = pool.wait_ready();
    let pid = vmm_pid(&entry);
    // SAFETY: kill(2) with the pid of the pool VM this test's hull started; no memory.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_until(Duration::from_secs(10), || !alive(pid)));
    let out = pool.ok(&[
        "run",
        "--name",
        "after",
        "--network",
        "none",
        "busybox",
        "echo",
        "hi",
    ]);
    assert_eq!(out, "hi\n");
    assert!(!pool.came_from_pool("after"), "a dead pool VM was used");
    assert!(!entry.exists(), "the dead VM's entry is still there");
    // The run started a filler for the VM the pool lacks.
    let fresh = pool.wait_ready();
    assert_ne!(vmm_pid(&fresh), pid);

    // Removing the pool while a VM is still rehearsing ends that VM too.
    pool.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
    pool.ok(&["system", "warm", "--rm"]);
    let cache = pool.zygotes.to_string_lossy().into_owned();
    assert!(
        wait_until(Duration::from_secs(10), || processes_naming(&cache)
            .is_empty()),
        "processes left running: {:?}",
        processes_naming(&cache)
    );
}

/// The live processes whose command line contains `text`.
fn processes_naming(text: &str) -> Vec<String> {
    let Ok(proc) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    proc.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (alive(pid) && cmdline.contains(text)).then(|| format!("{pid}: {cmdline}"))
        })
        .collect()
}

#[test]
fn pool_vms_get_the_containers_network() {
    let Some(pool) = Pool::setup("pool_vms_get_the_containers_network") else {
        return;
    };
    pool.ok(&["network", "create", "poolnet"]);
    pool.ok(&["run", "--rm", "--network", "poolnet", "busybox", "true"]);
    pool.wait_ready();
    pool.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "poolnet",
        "busybox",
        "sleep",
        "300",
    ]);
    pool.wait_ready();
    let mac = "02:42:ac:1f:00:09";
    let out = pool.ok(&[
        "run",
        "--name",
        "cli",
        "--network",
        "poolnet",
        "--mac-address",
        mac,
        "busybox",
        "sh",
        "-c",
        "cat /sys/class/net/eth0/address; ping -c 2 -W 5 srv",
    ]);
    assert!(pool.came_from_pool("cli"), "{}", pool.hull.vm_log("cli").1);
    assert!(out.starts_with(&format!("{mac}\n")), "{out}");
    assert!(out.contains("2 packets received"), "{out}");
    pool.ok(&["stop", "-t", "1", "srv"]);
    assert!(pool.came_from_pool("srv"), "{}", pool.hull.vm_log("srv").1);
    pool.ok(&["rm", "srv", "cli"]);
    pool.ok(&["network", "rm", "poolnet"]);
}

#[test]
fn an_unclaimed_pool_vm_powers_itself_off() {
    let Some(pool) = Pool::setup("an_unclaimed_pool_vm_powers_itself_off") else {
        return;
    };
    let idle = |args: &[&str]| {
        let mut command = pool.cmd(args);
        command.env("HULL_WARM_POOL_IDLE", "2");
        let out = with_input(&mut command, b"");
        assert!(out.status.success(), "hull {args:?}: {}", stderr(&out));
    };
    idle(&["run", "--rm", "--network", "none", "busybox", "true"]);
    let entry = pool.wait_ready();
    let pid = vmm_pid(&entry);
    assert!(
        wait_until(Duration::from_secs(60), || !alive(pid)),
        "the pool VM {pid} still runs long after its 2 s idle time"
    );
    let out = pool.ok(&[
        "run",
        "--name",
        "late",
        "--network",
        "none",
        "busybox",
        "echo",
        "hi",
    ]);
    assert_eq!(out, "hi\n");
    assert!(!pool.came_from_pool("late"));
}
