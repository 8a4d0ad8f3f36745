//! Root tests of the network's daemon, namespace and taps: they create real namespaces,
//! bridges and taps (never anything in the host's namespace, which they check). Skipped,
//! with the reason printed, when not root or without /dev/net/tun.
//!
//! The daemon runs as a re-executed copy of this test binary running only
//! [`daemon_child`], given the root and idle timeout as (never matching) test filters.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_network::daemon::{self, BRIDGE};
use hull_network::netlink::{Link, Rtnl};
use hull_network::{
    attach, detach, in_namespace, AttachRequest, Attachment, CreateNetwork, DaemonCommand,
    DaemonOptions, Network, NetworkStore,
};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT_PREFIX: &str = "HULL-TEST-ROOT=";
const IDLE_PREFIX: &str = "HULL-TEST-IDLE=";

/// The daemon's body when this binary is re-executed as one; a no-op in a normal run.
#[test]
fn daemon_child() {
    let args: Vec<String> = std::env::args().collect();
    let Some(root) = args.iter().find_map(|a| a.strip_prefix(ROOT_PREFIX)) else {
        return;
    };
    let idle: f64 = args
        .iter()
        .find_map(|a| a.strip_prefix(IDLE_PREFIX))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let id = args.last().expect("the network id");
    let options = DaemonOptions {
        idle_timeout: Duration::from_secs_f64(idle),
    };
    match daemon::run(Path::new(root), id, &options) {
        Ok(()) => std::process::exit(0),
        Err(err) => {
            eprintln!("daemon: {err}");
            std::process::exit(1)
        }
    }
}

fn skip_reason() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (network namespaces, bridges, taps)");
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("needs /dev/net/tun");
    }
    None
}

macro_rules! skip_unless_capable {
    () => {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

fn daemon_command(root: &Path, idle_seconds: f64) -> DaemonCommand {
    DaemonCommand {
        program: std::env::current_exe().unwrap(),
        args: vec![
            "daemon_child".into(),
            "--exact".into(),
            "--nocapture".into(),
            "--test-threads=1".into(),
            format!("{ROOT_PREFIX}{}", root.display()).into(),
            format!("{IDLE_PREFIX}{idle_seconds}").into(),
        ],
    }
}

fn network(subnet: &str) -> (tempfile::TempDir, NetworkStore, Network) {
    let root = tempfile::tempdir().unwrap();
    let store = NetworkStore::open(root.path()).unwrap();
    let network = store
        .create(&CreateNetwork {
            name: "testnet".into(),
            subnet: Some(subnet.into()),
            ..Default::default()
        })
        .unwrap();
    (root, store, network)
}

fn request(container_id: &str) -> AttachRequest {
    AttachRequest {
        container_id: container_id.into(),
        name: container_id.into(),
        ..Default::default()
    }
}

fn all_live(_: &str) -> bool {
    true
}

fn host_links() -> Vec<(u32, String)> {
    let mut rtnl = Rtnl::open().unwrap();
    let mut links: Vec<_> = rtnl
        .links()
        .unwrap()
        .into_iter()
        .map(|l| (l.index, l.name))
        .collect();
    links.sort();
    links
}

fn links_in(attachment: &Attachment) -> Vec<Link> {
    in_namespace(&attachment.netns, || {
        Rtnl::open().and_then(|mut rtnl| rtnl.links())
    })
    .unwrap()
    .unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn process_exists(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn attachments_get_taps_on_the_bridge_in_the_networks_own_namespace() {
    skip_unless_capable!();
    let host_before = host_links();
    let (root, store, network) = network("10.201.0.0/24");
    let command = daemon_command(root.path(), 0.5);

    let first = attach(&store, &network, &request("c1"), &command, &all_live).unwrap();
    let second = attach(&store, &network, &request("c2"), &command, &all_live).unwrap();
    assert_eq!(first.endpoint.ip, Ipv4Addr::new(10, 201, 0, 2));
    assert_eq!(second.endpoint.ip, Ipv4Addr::new(10, 201, 0, 3));
    assert_eq!(first.endpoint.mac, "02:42:0a:c9:00:02");
    assert_eq!(
        (first.prefix_len, first.gateway, first.mtu),
        (24, Ipv4Addr::new(10, 201, 0, 1), 1500)
    );
    assert_ne!(first.tap_name, second.tap_name);
    // One namespace for the network, not the host's.
    let host_ns = hull_network::NetnsHandle::current()
        .unwrap()
        .inode()
        .unwrap();
    assert_eq!(first.netns.inode().unwrap(), second.netns.inode().unwrap());
    assert_ne!(first.netns.inode().unwrap(), host_ns);
    let pid = daemon::running(&store, &network).expect("the daemon runs");

    // Inside: lo and the bridge up, the bridge has the gateway, both taps enslaved and up.
    let links = links_in(&first);
    let find = |name: &str| {
        links
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no {name} in {links:?}"))
            .clone()
    };
    let bridge = find(BRIDGE);
    assert!(bridge.up && find("lo").up);
    for tap in [&first.tap_name, &second.tap_name] {
        let tap = find(tap);
        assert_eq!(tap.controller, Some(bridge.index), "{tap:?} on the bridge");
        assert!(tap.up);
    }
    let addresses = in_namespace(&first.netns, || {
        Rtnl::open().and_then(|mut r| r.addresses(bridge.index))
    })
    .unwrap()
    .unwrap();
    assert_eq!(addresses, [(Ipv4Addr::new(10, 201, 0, 1), 24)]);
    // Nothing of it in the host's namespace.
    assert_eq!(host_links(), host_before);

    // Closing a tap's fd (the VMM ending) removes the tap.
    let Attachment {
        tap,
        netns: first_netns,
        tap_name: first_tap,
        ..
    } = first;
    drop(tap);
    wait_until("the closed tap is gone", Duration::from_secs(5), || {
        let links = in_namespace(&first_netns, || Rtnl::open().and_then(|mut r| r.links()))
            .unwrap()
            .unwrap();
        !links.iter().any(|l| l.name == first_tap)
            && links.iter().any(|l| l.name == second.tap_name)
    });

    // While an endpoint remains the daemon stays, well past its idle timeout.
    detach(&store, &network, "c1").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(daemon::running(&store, &network), Some(pid));
    // Idle: it exits by itself.
    detach(&store, &network, "c2").unwrap();
    assert!(store.endpoints(&network).unwrap().is_empty());
    drop(second);
    drop(first_netns);
    wait_until("the idle daemon exits", Duration::from_secs(10), || {
        !process_exists(pid)
    });
    assert_eq!(daemon::running(&store, &network), None);

    // The next attacher starts a new daemon, in a new namespace.
    let again = attach(&store, &network, &request("c3"), &command, &all_live).unwrap();
    let new_pid = daemon::running(&store, &network).expect("a new daemon");
    assert_ne!(new_pid, pid);
    assert_eq!(again.endpoint.ip, Ipv4Addr::new(10, 201, 0, 2));
    assert!(links_in(&again).iter().any(|l| l.name == again.tap_name));
    detach(&store, &network, "c3").unwrap();
    drop(again);

    // Removing the network stops its daemon.
    store.remove("testnet", &|_| Vec::new()).unwrap();
    wait_until(
        "the removed network's daemon ends",
        Duration::from_secs(5),
        || !process_exists(new_pid),
    );
    assert_eq!(host_links(), host_before);
}

#[test]
fn attachers_racing_an_exiting_daemon_always_land_on_a_live_bridge() {
    skip_unless_capable!();
    let host_before = host_links();
    let (root, store, network) = network("10.202.0.0/24");
    // Idle timeout 0: the daemon tries to exit whenever the network has no lease.
    let command = daemon_command(root.path(), 0.0);
    std::thread::scope(|scope| {
        for worker in 0..2 {
            let (store, network, command) = (&store, &network, &command);
            scope.spawn(move || {
                for round in 0..8 {
                    let id = format!("w{worker}r{round}");
                    let attachment =
                        attach(store, network, &request(&id), command, &all_live).unwrap();
                    let links = links_in(&attachment);
                    let bridge = links.iter().find(|l| l.name == BRIDGE).expect("the bridge");
                    let tap = links
                        .iter()
                        .find(|l| l.name == attachment.tap_name)
                        .expect("the tap");
                    assert_eq!(tap.controller, Some(bridge.index));
                    detach(store, network, &id).unwrap();
                }
            });
        }
    });
    assert!(store.endpoints(&network).unwrap().is_empty());
    wait_until("the last daemon exits", Duration::from_secs(10), || {
        daemon::running(&store, &network).is_none()
    });
    assert_eq!(host_links(), host_before);
}

#[test]
fn a_failed_attach_leaves_no_lease() {
    skip_unless_capable!();
    let (root, store, network) = network("10.203.0.0/24");
    let broken = DaemonCommand {
        program: PathBuf::from("/bin/false"),
        args: Vec::new(),
    };
    let err = attach(&store, &network, &request("c1"), &broken, &all_live).unwrap_err();
    assert!(err.to_string().contains("daemon"), "{err}");
    assert!(store.endpoints(&network).unwrap().is_empty());
    // A request refused up front does not even start a daemon.
    let command = daemon_command(root.path(), 0.2);
    let outside = AttachRequest {
        ip: Some(Ipv4Addr::new(10, 9, 9, 9)),
        ..request("c1")
    };
    assert!(attach(&store, &network, &outside, &command, &all_live).is_err());
    assert_eq!(daemon::running(&store, &network), None);
    assert!(store.endpoints(&network).unwrap().is_empty());
}

#[test]
fn a_container_killed_without_detaching_does_not_hold_the_network() {
    skip_unless_capable!();
    let (root, store, network) = network("10.204.0.0/24");
    let command = daemon_command(root.path(), 0.3);
    let killed = attach(&store, &network, &request("killed"), &command, &all_live).unwrap();
    let pid = daemon::running(&store, &network).expect("the daemon runs");
    // Its VMM dies (the tap fd closes) and nobody detaches.
    drop(killed);
    wait_until(
        "the daemon exits despite the stale lease",
        Duration::from_secs(10),
        || !process_exists(pid),
    );
    assert_eq!(
        store.endpoints(&network).unwrap().len(),
        1,
        "the lease is still there"
    );
    // The next attacher reclaims the dead container's address.
    let only_new_lives = |id: &str| id != "killed";
    let next = attach(
        &store,
        &network,
        &request("next"),
        &command,
        &only_new_lives,
    )
    .unwrap();
    assert_eq!(next.endpoint.ip, Ipv4Addr::new(10, 204, 0, 2));
    let holders: Vec<String> = store
        .endpoints(&network)
        .unwrap()
        .into_iter()
        .map(|e| e.container_id)
        .collect();
    assert_eq!(holders, ["next"]);
    detach(&store, &network, "next").unwrap();
}
