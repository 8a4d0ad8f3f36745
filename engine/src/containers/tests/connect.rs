//! `network connect`/`disconnect` on the fake engine: a stopped container changes network,
//! a running one is refused (its VM's NIC is fixed at boot), Docker's refusals otherwise.

use super::*;
use hull_network::CreateNetwork;

fn create_network(fixture: &Fixture, name: &str) {
    hull_network::NetworkStore::open(&fixture.root)
        .unwrap()
        .create(&CreateNetwork {
            name: name.into(),
            ..Default::default()
        })
        .unwrap();
}

#[test]
fn a_stopped_container_moves_between_networks_and_docker_refusals_hold() {
    let fixture = Fixture::new();
    let containers = &fixture.containers;
    create_network(&fixture, "red");
    create_network(&fixture, "blue");
    fixture.create(Some("app")).unwrap();

    let request = ConnectRequest {
        aliases: vec!["api".into()],
        ip: None,
    };
    let connected = containers.connect_network("red", "app", &request).unwrap();
    assert_eq!(connected.config.network.mode, "red");
    assert_eq!(connected.config.network.aliases, ["api"]);
    let inspect = containers.inspect("app").unwrap();
    assert_eq!(inspect["HostConfig"]["NetworkMode"], "red");

    let again = containers
        .connect_network("red", "app", &request)
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "endpoint with name app already exists in network red"
    );
    let second = containers
        .connect_network("blue", "app", &ConnectRequest::default())
        .unwrap_err();
    assert!(
        second.to_string().contains("one network interface"),
        "{second}"
    );
    let host = containers
        .connect_network("host", "app", &ConnectRequest::default())
        .unwrap_err();
    assert!(host.to_string().contains("host network"), "{host}");
    assert!(matches!(
        containers.connect_network("green", "app", &ConnectRequest::default()),
        Err(Error::Network(hull_network::Error::NotFound(_)))
    ));

    let not_on_blue = containers.disconnect_network("blue", "app").unwrap_err();
    assert!(
        not_on_blue
            .to_string()
            .contains("is not connected to network blue"),
        "{not_on_blue}"
    );
    let off = containers.disconnect_network("red", "app").unwrap();
    assert!(off.config.network.is_none());
    assert!(off.config.network.aliases.is_empty());
    let moved = containers
        .connect_network("blue", "app", &ConnectRequest::default())
        .unwrap();
    assert_eq!(moved.config.network.mode, "blue");
}

#[test]
fn an_address_outside_the_network_is_refused_and_changes_nothing() {
    let fixture = Fixture::new();
    create_network(&fixture, "red");
    fixture.create(Some("app")).unwrap();
    let request = ConnectRequest {
        aliases: Vec::new(),
        ip: Some("10.99.0.5".parse().unwrap()),
    };
    let refused = fixture
        .containers
        .connect_network("red", "app", &request)
        .unwrap_err();
    assert!(!refused.to_string().is_empty());
    assert!(fixture
        .containers
        .find("app")
        .unwrap()
        .config
        .network
        .is_none());
}

#[test]
fn a_running_container_is_refused_with_the_reason() {
    let fixture = Fixture::new();
    create_network(&fixture, "red");
    let created = fixture.create(Some("busy")).unwrap();
    fixture.engines.then(Guest::RunsUntilSignalled);
    std::thread::scope(|scope| {
        let supervisor = scope.spawn(|| fixture.containers.supervise(&created, Io::Detached));
        fixture.wait_until_serving("busy");
        let refused = fixture
            .containers
            .connect_network("red", "busy", &ConnectRequest::default())
            .unwrap_err();
        assert!(refused.to_string().contains("is running"), "{refused}");
        assert!(refused.to_string().contains("hull stop busy"), "{refused}");
        fixture.containers.kill("busy", libc::SIGTERM).unwrap();
        supervisor.join().unwrap().unwrap();
    });
    let after = fixture.containers.find("busy").unwrap();
    assert!(after.config.network.is_none());
}
