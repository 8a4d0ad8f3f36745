use super::*;
use hull_network::{ipam, AttachRequest};

fn networks() -> (tempfile::TempDir, Networks) {
    let root = tempfile::tempdir().unwrap();
    let networks = Networks::open(root.path()).unwrap();
    (root, networks)
}

fn create(networks: &Networks, name: &str) -> Network {
    networks
        .create(&CreateNetwork {
            name: name.into(),
            ..Default::default()
        })
        .unwrap()
}

#[test]
fn a_network_with_endpoints_is_in_use_until_they_leave() {
    let (_root, networks) = networks();
    // "c1" is no container of this root: count every lease as a live one.
    let networks = networks.with_in_use(Box::new(|store, network| {
        endpoint_names(store, network, &|_| true)
    }));
    let network = create(&networks, "web");
    let request = AttachRequest {
        container_id: "c1".into(),
        name: "box".into(),
        ..Default::default()
    };
    ipam::allocate(networks.store(), &network, &request, &|_| true).unwrap();
    let err = networks.remove("web").unwrap_err();
    assert!(err.to_string().contains("has active endpoints"), "{err}");
    assert!(networks.prune().unwrap().is_empty());
    ipam::release(networks.store(), &network, "c1").unwrap();
    assert_eq!(networks.prune().unwrap(), ["web"]);
}

#[test]
fn the_lease_of_a_container_that_is_not_running_does_not_keep_a_network() {
    let (_root, networks) = networks();
    let network = create(&networks, "web");
    let request = AttachRequest {
        container_id: "gone".into(),
        name: "box".into(),
        ..Default::default()
    };
    ipam::allocate(networks.store(), &network, &request, &|_| true).unwrap();
    assert_eq!(networks.remove("web").unwrap().name, "web");
}

#[test]
fn inspect_has_dockers_shape() {
    let (_root, networks) = networks();
    let network = networks
        .create(&CreateNetwork {
            name: "app".into(),
            subnet: Some("10.9.0.0/24".into()),
            labels: [("tier".to_string(), "db".to_string())].into(),
            ..Default::default()
        })
        .unwrap();
    let request = AttachRequest {
        container_id: "c1".into(),
        name: "box".into(),
        ..Default::default()
    };
    ipam::allocate(networks.store(), &network, &request, &|_| true).unwrap();
    let json = serde_json::to_value(networks.inspect("app").unwrap()).unwrap();
    assert_eq!(json["Name"], "app");
    assert_eq!(json["Id"], network.id.as_str());
    assert_eq!(json["Driver"], "bridge");
    assert_eq!(json["Scope"], "local");
    assert_eq!(json["EnableIPv6"], false);
    assert_eq!(json["IPAM"]["Driver"], "default");
    assert_eq!(json["IPAM"]["Config"][0]["Subnet"], "10.9.0.0/24");
    assert_eq!(json["IPAM"]["Config"][0]["Gateway"], "10.9.0.1");
    assert_eq!(json["Labels"]["tier"], "db");
    let endpoint = &json["Containers"]["c1"];
    assert_eq!(endpoint["Name"], "box");
    assert_eq!(endpoint["IPv4Address"], "10.9.0.2/24");
    assert_eq!(endpoint["MacAddress"], "02:42:0a:09:00:02");
    assert_eq!(endpoint["EndpointID"].as_str().unwrap().len(), 64);
    for key in [
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom",
        "ConfigOnly",
        "Options",
        "Created",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let none = serde_json::to_value(networks.inspect("none").unwrap()).unwrap();
    assert_eq!(none["Driver"], "null");
    assert_eq!(none["IPAM"]["Config"], serde_json::json!([]));
}

#[test]
fn filters_match_as_dockers() {
    let (_root, networks) = networks();
    let custom = networks
        .create(&CreateNetwork {
            name: "front".into(),
            labels: [("env".to_string(), "prod".to_string())].into(),
            ..Default::default()
        })
        .unwrap();
    create(&networks, "back");
    let names = |terms: &[&str]| -> Vec<String> {
        let terms: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
        let filter = NetworkFilter::parse(&terms).unwrap();
        networks
            .list(&filter)
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect()
    };
    assert_eq!(names(&[]), ["back", "bridge", "front", "host", "none"]);
    assert_eq!(names(&["name=ont"]), ["front"]);
    assert_eq!(names(&["name=front", "name=back"]), ["back", "front"]);
    assert_eq!(names(&["type=builtin"]), ["bridge", "host", "none"]);
    assert_eq!(names(&["type=custom"]), ["back", "front"]);
    assert_eq!(names(&["driver=null"]), ["none"]);
    assert_eq!(names(&["label=env"]), ["front"]);
    assert_eq!(names(&["label=env=dev"]), Vec::<String>::new());
    assert_eq!(names(&[&format!("id={}", &custom.id[..6])]), ["front"]);
    assert_eq!(names(&["dangling=true"]), ["back", "front"]);
    for bad in ["nope=1", "type=x", "name"] {
        assert!(NetworkFilter::parse(&[bad.to_string()]).is_err(), "{bad}");
    }
}

#[test]
fn attach_needs_a_way_to_start_the_daemon_and_leases_nothing_without_one() {
    let (_root, networks) = networks();
    let network = create(&networks, "web");
    let request = AttachRequest {
        container_id: "c1".into(),
        name: "box".into(),
        ..Default::default()
    };
    let err = networks.attach(&network, &request, &|_| true).unwrap_err();
    assert!(err.to_string().contains("daemon"), "{err}");
    assert!(networks.store().endpoints(&network).unwrap().is_empty());
}
