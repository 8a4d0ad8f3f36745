//! `hull network create|ls|inspect|rm|prune` and `hull network-daemon` through the real
//! binary. The verbs need no VM; the daemon test needs root and /dev/net/tun.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{hull_binary, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A hull binary with a store of its own.
struct Store {
    bin: PathBuf,
    root: tempfile::TempDir,
}

impl Store {
    fn new(test: &str) -> Option<Self> {
        let Some(bin) = hull_binary() else {
            eprintln!("SKIPPED {test}: no hull binary: run `cargo build -p hull-cli` first or set HULL_BIN");
            return None;
        };
        let root = tempfile::Builder::new()
            .prefix("hull-net-")
            .tempdir()
            .ok()?;
        let store = Self { bin, root };
        // The first verb records the predefined networks.
        store.ok(&["network", "ls", "-q"]);
        Some(store)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("HULL_ROOT", self.root.path())
            .env("HULL_NETWORK_PASTA", "none")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("hull runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hull {args:?} failed ({}): {}",
            out.status,
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs `args`, expects exit status 1 and `message` on stderr, nothing on stdout.
    fn refused(&self, args: &[&str], message: &str) {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "hull {args:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(message),
            "hull {args:?}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "", "hull {args:?}");
    }

    /// The entries of the networks directory (network ids; the lock file left out).
    fn network_dirs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.path().join("networks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != ".lock")
            .collect();
        names.sort();
        names
    }
}

fn is_full_id(text: &str) -> bool {
    text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn the_predefined_networks_are_listed_as_dockers() {
    let Some(hull) = Store::new("the_predefined_networks_are_listed_as_dockers") else {
        return;
    };
    let table = hull.ok(&["network", "ls"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "NETWORK ID     NAME      DRIVER    SCOPE");
    let rows: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    for (row, (name, driver)) in
        rows.iter()
            .zip([("bridge", "bridge"), ("host", "host"), ("none", "null")])
    {
        assert_eq!(row[0].len(), 12, "{table}");
        assert_eq!(&row[1..], [name, driver, "local"], "{table}");
    }
    let bridge: serde_json::Value =
        serde_json::from_str(&hull.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(bridge[0]["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
    assert_eq!(bridge[0]["IPAM"]["Config"][0]["Gateway"], "172.17.0.1");
    assert_eq!(
        bridge[0]["Options"]["com.docker.network.bridge.default_bridge"],
        "true"
    );
    // The ids are stable across invocations.
    assert_eq!(
        hull.ok(&["network", "ls", "-q"]),
        hull.ok(&["network", "ls", "-q"])
    );
}

#[test]
fn create_inspect_ls_and_rm_a_network() {
    let Some(hull) = Store::new("create_inspect_ls_and_rm_a_network") else {
        return;
    };
    let before = hull.network_dirs();
    let id = hull.ok(&["network", "create", "web"]).trim().to_string();
    assert!(is_full_id(&id), "{id}");
    let custom = hull
        .ok(&[
            "network",
            "create",
            "--subnet",
            "10.77.0.0/24",
            "--gateway",
            "10.77.0.254",
            "--internal",
            "--label",
            "tier=db",
            "-d",
            "bridge",
            "db",
        ])
        .trim()
        .to_string();
    // Document order and values as Docker's.
    let text = hull.ok(&["network", "inspect", "web", "db"]);
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("    \"") && !l.starts_with("     "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .take(15)
        .collect();
    assert_eq!(
        keys,
        [
            "Name",
            "Id",
            "Created",
            "Scope",
            "Driver",
            "EnableIPv6",
            "IPAM",
            "Internal",
            "Attachable",
            "Ingress",
            "ConfigFrom",
            "ConfigOnly",
            "Containers",
            "Options",
            "Labels"
        ]
    );
    let docs: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(docs[0]["Name"], "web");
    assert_eq!(docs[0]["Id"], id.as_str());
    assert_eq!(docs[0]["Driver"], "bridge");
    assert_eq!(docs[0]["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
    assert_eq!(docs[0]["IPAM"]["Config"][0]["Gateway"], "172.18.0.1");
    assert_eq!(docs[0]["Internal"], false);
    assert_eq!(docs[0]["Containers"], serde_json::json!({}));
    assert_eq!(docs[1]["Id"], custom.as_str());
    assert_eq!(docs[1]["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24");
    assert_eq!(docs[1]["IPAM"]["Config"][0]["Gateway"], "10.77.0.254");
    assert_eq!(docs[1]["Internal"], true);
    assert_eq!(docs[1]["Labels"]["tier"], "db");
    assert_eq!(
        hull.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Internal}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
            "db"
        ]),
        "db true 10.77.0.0/24\n"
    );
    // By id prefix too.
    assert_eq!(
        hull.ok(&["network", "inspect", "-f", "{{.Name}}", &id[..8]]),
        "web\n"
    );

    assert_eq!(
        hull.ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\ndb\nhost\nnone\nweb\n"
    );
    assert_eq!(
        hull.ok(&[
            "network",
            "ls",
            "-f",
            "name=we",
            "--format",
            "{{.Name}} {{.Driver}}"
        ]),
        "web bridge\n"
    );
    assert_eq!(
        hull.ok(&["network", "ls", "-f", "type=custom", "-q", "--no-trunc"]),
        format!("{custom}\n{id}\n")
    );
    assert_eq!(
        hull.ok(&[
            "network",
            "ls",
            "-f",
            "label=tier=db",
            "--format",
            "table {{.Name}}\t{{.Internal}}"
        ]),
        "NAME      INTERNAL\ndb        true\n"
    );
    let listed = hull.ok(&["network", "ls"]);
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [&id[..12], "web", "bridge", "local"]),
        "{listed}"
    );

    assert_eq!(
        hull.ok(&["network", "rm", "web", &custom[..10]]),
        format!("web\n{}\n", &custom[..10])
    );
    assert_eq!(hull.network_dirs(), before, "rm leaves nothing behind");
    assert_eq!(hull.ok(&["network", "ls", "-q"]).lines().count(), 3);
}

#[test]
fn bad_requests_are_refused_as_dockers_and_leave_no_state() {
    let Some(hull) = Store::new("bad_requests_are_refused_as_dockers_and_leave_no_state") else {
        return;
    };
    hull.ok(&["network", "create", "--subnet", "10.1.0.0/16", "a"]);
    let before = hull.network_dirs();
    hull.refused(
        &["network", "create", "a"],
        "network with name a already exists",
    );
    hull.refused(
        &["network", "create", "bridge"],
        "network with name bridge already exists",
    );
    hull.refused(
        &["network", "create", "--subnet", "10.0.0.0/8", "b"],
        "invalid pool request: Pool overlaps with other one on this address space",
    );
    hull.refused(
        &["network", "create", "--subnet", "172.17.9.0/24", "b"],
        "invalid pool request: Pool overlaps with other one on this address space",
    );
    hull.refused(
        &["network", "create", "--subnet", "300.1.0.0/16", "b"],
        "invalid subnet 300.1.0.0/16: invalid CIDR address",
    );
    hull.refused(
        &["network", "create", "--subnet", "10.2.3.4/16", "b"],
        "it should be 10.2.0.0/16",
    );
    hull.refused(
        &[
            "network",
            "create",
            "--subnet",
            "10.3.0.0/16",
            "--gateway",
            "10.4.0.1",
            "b",
        ],
        "no matching subnet for gateway 10.4.0.1",
    );
    hull.refused(
        &["network", "create", "-d", "overlay", "b"],
        "plugin \"overlay\" not found",
    );
    // A malformed flag value is a usage error: 125.
    let out = hull.run(&["network", "create", "--gateway", "nonsense", "b"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(
        hull.network_dirs(),
        before,
        "no refused create left anything"
    );

    hull.refused(&["network", "rm", "nope"], "network nope not found");
    for predefined in ["bridge", "host", "none"] {
        hull.refused(
            &["network", "rm", predefined],
            &format!("{predefined} is a pre-defined network and cannot be removed"),
        );
    }
    // rm -f ignores unknown networks only.
    assert_eq!(
        hull.run(&["network", "rm", "-f", "nope"]).status.code(),
        Some(0)
    );
    // inspect of an unknown network: `[]` and Docker's error, status 1.
    let out = hull.run(&["network", "inspect", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "[]\n");
    assert!(
        stderr(&out).contains("No such network: nope"),
        "{}",
        stderr(&out)
    );
    hull.refused(
        &["network", "ls", "-f", "color=red"],
        "invalid filter 'color'",
    );
    assert_eq!(hull.network_dirs(), before);
}

#[test]
fn prune_asks_first_and_a_stale_lease_keeps_no_network() {
    let Some(hull) = Store::new("prune_asks_first_and_a_stale_lease_keeps_no_network") else {
        return;
    };
    let before = hull.network_dirs();
    let stale = hull
        .ok(&["network", "create", "--subnet", "10.50.0.0/24", "stale"])
        .trim()
        .to_string();
    hull.ok(&["network", "create", "idle1"]);
    hull.ok(&["network", "create", "idle2"]);
    // A lease as `hull_network::attach` writes it, of a container that is not running (its
    // supervisor was killed before it could give the address back). A network in use by a
    // running container is refused: tests/tests/networking.rs, with a real one.
    let lease = hull
        .root
        .path()
        .join(format!("networks/{stale}/endpoints/10.50.0.2.json"));
    std::fs::write(
        &lease,
        r#"{"container_id":"c0ffee","name":"app","aliases":[],"ip":"10.50.0.2","mac":"02:42:0a:32:00:02"}"#,
    )
    .unwrap();
    let inspected = hull.ok(&["network", "inspect", "-f", "{{json .Containers}}", "stale"]);
    let containers: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(containers["c0ffee"]["Name"], "app");
    assert_eq!(containers["c0ffee"]["IPv4Address"], "10.50.0.2/24");
    assert_eq!(containers["c0ffee"]["MacAddress"], "02:42:0a:32:00:02");
    // Without -f prune asks; anything but yes keeps everything.
    let mut prompt = hull
        .cmd(&["network", "prune"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    prompt.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = prompt.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(hull.ok(&["network", "ls", "-q"]).lines().count(), 6);
    let pruned = hull.ok(&["network", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Networks:\n"), "{pruned}");
    let mut names: Vec<&str> = pruned.lines().skip(1).filter(|l| !l.is_empty()).collect();
    names.sort_unstable();
    assert_eq!(names, ["idle1", "idle2", "stale"]);
    assert_eq!(
        hull.ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nhost\nnone\n"
    );
    assert_eq!(hull.ok(&["network", "prune", "-f"]), "");
    assert_eq!(hull.network_dirs(), before);
}

/// The links of the calling thread's namespace, by name.
fn link_names() -> Vec<String> {
    let mut rtnl = hull_network::netlink::Rtnl::open().unwrap();
    let mut names: Vec<String> = rtnl.links().unwrap().into_iter().map(|l| l.name).collect();
    names.sort();
    names
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_network_daemon_owns_a_namespace_with_the_bridge_and_exits_when_idle() {
    let Some(hull) =
        Store::new("the_network_daemon_owns_a_namespace_with_the_bridge_and_exits_when_idle")
    else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (network namespaces)");
        return;
    }
    let host_before = link_names();
    let id = hull
        .ok(&["network", "create", "--subnet", "10.60.0.0/24", "d"])
        .trim()
        .to_string();
    let dir = hull.root.path().join("networks").join(&id);
    // A lease with a tap on the bridge keeps the daemon up; without, it exits when idle.
    let lease = dir.join("endpoints/10.60.0.2.json");
    std::fs::write(
        &lease,
        r#"{"container_id":"c","name":"c","ip":"10.60.0.2","mac":"02:42:0a:3c:00:02"}"#,
    )
    .unwrap();
    let mut daemon = hull
        .cmd(&["network-daemon", &id])
        .env("HULL_NETWORK_IDLE_TIMEOUT", "0.3")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let record = || std::fs::read_to_string(dir.join("daemon.pid")).unwrap_or_default();
    wait_until("the daemon is ready", || {
        record().split_whitespace().count() == 4
    });
    let fields: Vec<String> = record().split_whitespace().map(str::to_string).collect();
    assert_eq!(fields[0], daemon.id().to_string());
    assert_eq!(
        fields[2], fields[0],
        "hull network-daemon unshares on its main thread"
    );
    let netns = hull_network::NetnsHandle::of_process(daemon.id()).unwrap();
    assert_eq!(netns.inode().unwrap().to_string(), fields[3]);
    let (inside, gateway) = hull_network::in_namespace(&netns, || {
        let mut rtnl = hull_network::netlink::Rtnl::open().unwrap();
        let bridge = rtnl.link("hull0").unwrap().expect("the bridge");
        assert!(bridge.up);
        (link_names(), rtnl.addresses(bridge.index).unwrap())
    })
    .unwrap();
    assert_eq!(inside, ["hull0", "lo"]);
    assert_eq!(gateway, [("10.60.0.1".parse().unwrap(), 24)]);
    assert_eq!(link_names(), host_before, "nothing in the host's namespace");
    // A second daemon for the same network sees the first and leaves at once.
    let second = hull.run(&["network-daemon", &id]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the first daemon still runs"
    );

    // The container's tap, as attach makes it.
    let tap = hull_network::in_namespace(&netns, || {
        let (tap, name) = hull_network::tap::create_tap().unwrap();
        let mut rtnl = hull_network::netlink::Rtnl::open().unwrap();
        let bridge = rtnl.index_of("hull0").unwrap();
        let index = rtnl.index_of(&name).unwrap();
        rtnl.set_controller(index, bridge).unwrap();
        tap
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "a used network keeps its daemon"
    );
    // The VMM dies without anyone detaching (kill -9): its lease stays, its tap goes; the
    // stale lease does not keep the daemon.
    drop(tap);
    wait_until("the idle daemon exits", || {
        daemon.try_wait().unwrap().is_some()
    });
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(record(), "", "the daemon unregistered");
    assert!(
        lease.exists(),
        "leases are reclaimed by the next attach, not the daemon"
    );
    assert_eq!(link_names(), host_before);
    drop(netns);
    assert!(Path::new(&dir).exists());
}

/// The pasta processes whose command line names `netns_file`.
fn pastas_of(netns_file: &Path) -> Vec<u32> {
    let wanted = netns_file.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.split(|b| *b == 0).any(|arg| arg == wanted)
        })
        .collect()
}

#[test]
fn the_daemons_pasta_serves_its_namespace_and_never_outlives_the_network() {
    let test = "the_daemons_pasta_serves_its_namespace_and_never_outlives_the_network";
    let Some(hull) = Store::new(test) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED {test}: needs root (network namespaces)");
        return;
    }
    if hull_tests::which("pasta").is_none() {
        eprintln!(
            "SKIPPED {test}: pasta is not installed (scripts/install-deps.sh installs passt)"
        );
        return;
    }
    let host_before = link_names();
    let id = hull
        .ok(&["network", "create", "--subnet", "10.61.0.0/24", "out"])
        .trim()
        .to_string();
    let dir = hull.root.path().join("networks").join(&id);
    let netns_file = dir.join("netns");
    // Started, and ready once its pasta runs (daemon.pid may still hold a killed one's).
    let start = || {
        let daemon = hull
            .cmd(&["network-daemon", &id])
            .env("HULL_NETWORK_PASTA", "")
            .env("HULL_NETWORK_IDLE_TIMEOUT", "60")
            .spawn()
            .unwrap();
        wait_until("the daemon's pasta runs", || {
            pastas_of(&netns_file).len() == 1
        });
        daemon
    };
    let mut daemon = start();
    let first = pastas_of(&netns_file);
    // pasta's tap is in the network's namespace, with the host's address copied.
    let netns = hull_network::NetnsHandle::of_process(daemon.id()).unwrap();
    let (inside, out_addresses) = hull_network::in_namespace(&netns, || {
        let mut rtnl = hull_network::netlink::Rtnl::open().unwrap();
        wait_until("pasta configured its tap", || {
            rtnl.link("hullout0")
                .unwrap()
                .is_some_and(|out| !rtnl.addresses(out.index).unwrap().is_empty())
        });
        let out = rtnl.link("hullout0").unwrap().unwrap();
        (link_names(), rtnl.addresses(out.index).unwrap())
    })
    .unwrap();
    drop(netns);
    assert_eq!(inside, ["hull0", "hullout0", "lo"]);
    assert!(!out_addresses.is_empty());
    assert_eq!(link_names(), host_before, "nothing in the host's namespace");

    // kill -9 of the daemon: its pasta (which lost the parent-death signal with its
    // privileges) quits once the daemon's mount namespace, and the bind mount it watches,
    // are gone; a new daemon starts its own.
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    wait_until("the orphaned pasta quits", || {
        !pastas_of(&netns_file).contains(&first[0])
    });
    let mut daemon = start();
    // Removing the network ends the daemon and its pasta.
    assert_eq!(hull.ok(&["network", "rm", "out"]), "out\n");
    wait_until("the daemon exits", || daemon.try_wait().unwrap().is_some());
    wait_until("pasta quits", || pastas_of(&netns_file).is_empty());
    assert_eq!(link_names(), host_before);
}
