use super::*;
use crate::store::CreateNetwork;

fn network(subnet: &str) -> (tempfile::TempDir, NetworkStore, Network) {
    let root = tempfile::tempdir().unwrap();
    let store = NetworkStore::open(root.path()).unwrap();
    let network = store
        .create(&CreateNetwork {
            name: "net".into(),
            subnet: Some(subnet.into()),
            ..Default::default()
        })
        .unwrap();
    (root, store, network)
}

fn request(container_id: &str) -> AttachRequest {
    AttachRequest {
        container_id: container_id.into(),
        name: format!("name-{container_id}"),
        ..Default::default()
    }
}

fn all_live(_: &str) -> bool {
    true
}

#[test]
fn macs_are_dockers() {
    assert_eq!(mac_for(Ipv4Addr::new(172, 17, 0, 2)), "02:42:ac:11:00:02");
    assert_eq!(mac_for(Ipv4Addr::new(10, 0, 255, 1)), "02:42:0a:00:ff:01");
    assert_eq!(parse_mac("92:D0:C6:0A:29:33").unwrap(), "92:d0:c6:0a:29:33");
    assert_eq!(parse_mac("92-d0-c6-0a-29-33").unwrap(), "92:d0:c6:0a:29:33");
    for bad in [
        "",
        "92:d0:c6:0a:29",
        "92:d0:c6:0a:29:3g",
        "01:00:5e:00:00:01",
        "920:d0:c6:0a:29:3",
    ] {
        assert!(parse_mac(bad).is_err(), "{bad}");
    }
}

#[test]
fn addresses_are_handed_out_in_order_skipping_the_gateway() {
    let (_root, store, network) = network("10.7.0.0/24");
    let first = allocate(&store, &network, &request("a"), &all_live).unwrap();
    assert_eq!(first.ip, Ipv4Addr::new(10, 7, 0, 2));
    assert_eq!(first.mac, "02:42:0a:07:00:02");
    assert_eq!(first.name, "name-a");
    let second = allocate(&store, &network, &request("b"), &all_live).unwrap();
    assert_eq!(second.ip, Ipv4Addr::new(10, 7, 0, 3));
    let leases = store.endpoints(&network).unwrap();
    assert_eq!(leases, [first.clone(), second]);
    assert!(store
        .endpoints_dir(&network.id)
        .join("10.7.0.2.json")
        .exists());
    // Freed addresses are reused.
    release(&store, &network, "a").unwrap();
    let third = allocate(&store, &network, &request("c"), &all_live).unwrap();
    assert_eq!(third.ip, first.ip);
}

#[test]
fn a_container_attaching_again_keeps_its_address_and_one_lease() {
    let (_root, store, network) = network("10.7.0.0/24");
    allocate(&store, &network, &request("a"), &all_live).unwrap();
    let b = allocate(&store, &network, &request("b"), &all_live).unwrap();
    let again = allocate(&store, &network, &request("b"), &all_live).unwrap();
    assert_eq!(again.ip, b.ip);
    assert_eq!(store.endpoints(&network).unwrap().len(), 2);
}

#[test]
fn dead_containers_leases_are_reclaimed() {
    let (_root, store, network) = network("10.7.0.0/30");
    // A /30 has one address besides the gateway.
    allocate(&store, &network, &request("dead"), &all_live).unwrap();
    let err = allocate(&store, &network, &request("new"), &all_live).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no available IPv4 addresses on this network's address pools: net ({})",
            network.id
        )
    );
    let only_new_lives = |id: &str| id != "dead";
    let got = allocate(&store, &network, &request("new"), &only_new_lives).unwrap();
    assert_eq!(got.ip, Ipv4Addr::new(10, 7, 0, 2));
    let holders: Vec<String> = store
        .endpoints(&network)
        .unwrap()
        .into_iter()
        .map(|e| e.container_id)
        .collect();
    assert_eq!(holders, ["new"]);
}

#[test]
fn requested_addresses_and_macs() {
    let (_root, store, network) = network("10.7.0.0/24");
    let wanted = AttachRequest {
        ip: Some(Ipv4Addr::new(10, 7, 0, 50)),
        mac: Some("92:d0:c6:0a:29:33".into()),
        aliases: vec!["db".into()],
        ..request("a")
    };
    let got = allocate(&store, &network, &wanted, &all_live).unwrap();
    assert_eq!(got.ip, Ipv4Addr::new(10, 7, 0, 50));
    assert_eq!(got.mac, "92:d0:c6:0a:29:33");
    assert_eq!(got.aliases, ["db"]);
    let taken = AttachRequest {
        ip: Some(Ipv4Addr::new(10, 7, 0, 50)),
        ..request("b")
    };
    assert_eq!(
        allocate(&store, &network, &taken, &all_live)
            .unwrap_err()
            .to_string(),
        "Address already in use"
    );
    let gateway = AttachRequest {
        ip: Some(Ipv4Addr::new(10, 7, 0, 1)),
        ..request("b")
    };
    assert!(matches!(
        allocate(&store, &network, &gateway, &all_live),
        Err(Error::AddressInUse)
    ));
    for outside in [
        Ipv4Addr::new(10, 8, 0, 5),
        Ipv4Addr::new(10, 7, 0, 0),
        Ipv4Addr::new(10, 7, 0, 255),
    ] {
        let request = AttachRequest {
            ip: Some(outside),
            ..request("b")
        };
        assert_eq!(
            allocate(&store, &network, &request, &all_live)
                .unwrap_err()
                .to_string(),
            format!(
                "Invalid address {outside}: It does not belong to any of this network's subnets"
            )
        );
    }
    let bad_mac = AttachRequest {
        mac: Some("zz".into()),
        ..request("b")
    };
    assert!(matches!(
        allocate(&store, &network, &bad_mac, &all_live),
        Err(Error::InvalidMac(_))
    ));
    // None of the refusals leased anything.
    assert_eq!(store.endpoints(&network).unwrap().len(), 1);
}

#[test]
fn the_default_bridge_refuses_ip_and_host_none_refuse_all() {
    let root = tempfile::tempdir().unwrap();
    let store = NetworkStore::open(root.path()).unwrap();
    let bridge = store.get("bridge").unwrap();
    let wanted = AttachRequest {
        ip: Some(Ipv4Addr::new(172, 17, 0, 9)),
        ..request("a")
    };
    assert_eq!(
        allocate(&store, &bridge, &wanted, &all_live)
            .unwrap_err()
            .to_string(),
        "user specified IP address is supported on user defined networks only"
    );
    let got = allocate(&store, &bridge, &request("a"), &all_live).unwrap();
    assert_eq!(got.ip, Ipv4Addr::new(172, 17, 0, 2));
    assert_eq!(got.mac, "02:42:ac:11:00:02");
    for name in ["host", "none"] {
        let network = store.get(name).unwrap();
        assert!(matches!(
            allocate(&store, &network, &request("a"), &all_live),
            Err(Error::NotAttachable { .. })
        ));
    }
}
