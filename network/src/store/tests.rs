use super::*;

fn store() -> (tempfile::TempDir, NetworkStore) {
    let root = tempfile::tempdir().unwrap();
    let store = NetworkStore::open(root.path()).unwrap();
    (root, store)
}

fn named(name: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        ..Default::default()
    }
}

fn nobody(_: &Network) -> Vec<String> {
    Vec::new()
}

/// The network directories (not the store's own lock file).
fn network_dirs(store: &NetworkStore) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock")
        .collect();
    names.sort();
    names
}

#[test]
fn the_predefined_networks_exist_once() {
    let (root, store) = store();
    let names: Vec<String> = store.list().unwrap().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let bridge = store.get("bridge").unwrap();
    assert_eq!(bridge.subnet, Some("172.17.0.0/16".parse().unwrap()));
    assert_eq!(bridge.gateway, Some(Ipv4Addr::new(172, 17, 0, 1)));
    assert_eq!(bridge.driver, "bridge");
    assert_eq!(bridge.id.len(), 64);
    assert!(bridge.id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(store.get("host").unwrap().driver, "host");
    assert_eq!(store.get("none").unwrap().driver, "null");
    assert!(store.get("none").unwrap().addressing().is_err());
    // Opening again records nothing new.
    let again = NetworkStore::open(root.path()).unwrap();
    assert_eq!(again.list().unwrap().len(), 3);
    assert_eq!(again.get("bridge").unwrap().id, bridge.id);
}

#[test]
fn new_networks_take_the_next_free_pool_and_its_first_host() {
    let (_root, store) = store();
    let one = store.create(&named("one")).unwrap();
    assert_eq!(one.subnet, Some("172.18.0.0/16".parse().unwrap()));
    assert_eq!(one.gateway, Some(Ipv4Addr::new(172, 18, 0, 1)));
    assert_eq!(one.driver, "bridge");
    assert!(humantime::parse_rfc3339(&one.created).is_ok());
    let two = store.create(&named("two")).unwrap();
    assert_eq!(two.subnet, Some("172.19.0.0/16".parse().unwrap()));
    // Freed pools are reused.
    store.remove("one", &nobody).unwrap();
    let three = store.create(&named("three")).unwrap();
    assert_eq!(three.subnet, Some("172.18.0.0/16".parse().unwrap()));
}

#[test]
fn create_takes_subnet_gateway_internal_and_labels() {
    let (_root, store) = store();
    let request = CreateNetwork {
        name: "custom".into(),
        subnet: Some("10.5.0.0/24".into()),
        gateway: Some(Ipv4Addr::new(10, 5, 0, 254)),
        internal: true,
        labels: [("a".to_string(), "b".to_string())].into(),
        ..Default::default()
    };
    let created = store.create(&request).unwrap();
    let found = store.get("custom").unwrap();
    assert_eq!(found, created);
    assert_eq!(found.gateway, Some(Ipv4Addr::new(10, 5, 0, 254)));
    assert!(found.internal);
    assert_eq!(found.labels["a"], "b");
}

#[test]
fn bad_requests_are_refused_with_dockers_words_and_leave_nothing() {
    let (_root, store) = store();
    store
        .create(&CreateNetwork {
            name: "a".into(),
            subnet: Some("10.1.0.0/16".into()),
            ..Default::default()
        })
        .unwrap();
    let before = network_dirs(&store);
    let cases: Vec<(CreateNetwork, &str)> = vec![
        (named("a"), "network with name a already exists"),
        (named("bridge"), "network with name bridge already exists"),
        (
            CreateNetwork {
                subnet: Some("10.0.0.0/8".into()),
                ..named("b")
            },
            "invalid pool request: Pool overlaps with other one on this address space",
        ),
        (
            CreateNetwork {
                subnet: Some("172.17.5.0/24".into()),
                ..named("b")
            },
            "invalid pool request: Pool overlaps with other one on this address space",
        ),
        (
            CreateNetwork {
                subnet: Some("nonsense".into()),
                ..named("b")
            },
            "invalid subnet nonsense: invalid CIDR address: nonsense",
        ),
        (
            CreateNetwork {
                subnet: Some("10.9.0.0/16".into()),
                gateway: Some(Ipv4Addr::new(10, 8, 0, 1)),
                ..named("b")
            },
            "no matching subnet for gateway 10.8.0.1",
        ),
        (
            CreateNetwork {
                gateway: Some(Ipv4Addr::new(10, 8, 0, 1)),
                ..named("b")
            },
            "every ip-range or gateway must have a corresponding subnet",
        ),
        (
            CreateNetwork {
                driver: Some("overlay".into()),
                ..named("b")
            },
            "plugin \"overlay\" not found",
        ),
    ];
    for (request, message) in cases {
        assert_eq!(store.create(&request).unwrap_err().to_string(), message);
    }
    assert_eq!(network_dirs(&store), before, "no state left behind");
}

#[test]
fn get_finds_by_id_name_and_unique_prefix() {
    let (_root, store) = store();
    let web = store.create(&named("web")).unwrap();
    assert_eq!(store.get(&web.id).unwrap(), web);
    assert_eq!(store.get("web").unwrap(), web);
    assert_eq!(store.get(&web.id[..5]).unwrap(), web);
    assert_eq!(
        store.get("nope").unwrap_err().to_string(),
        "network nope not found"
    );
    assert!(matches!(store.get(""), Err(Error::NotFound(_))));
}

#[test]
fn remove_refuses_predefined_and_used_networks() {
    let (_root, store) = store();
    for name in PREDEFINED {
        assert_eq!(
            store.remove(name, &nobody).unwrap_err().to_string(),
            format!("{name} is a pre-defined network and cannot be removed")
        );
    }
    let busy = store.create(&named("busy")).unwrap();
    let users = |_: &Network| vec!["web".to_string()];
    assert_eq!(
        store.remove("busy", &users).unwrap_err().to_string(),
        format!(
            "error while removing network: network busy id {} has active endpoints",
            busy.id
        )
    );
    assert!(store.get("busy").is_ok());
    assert_eq!(store.remove("busy", &nobody).unwrap().id, busy.id);
    assert!(matches!(store.get("busy"), Err(Error::NotFound(_))));
    assert!(!store.network_dir(&busy.id).exists());
    assert!(matches!(
        store.remove("busy", &nobody),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn prune_removes_only_unused_user_networks() {
    let (_root, store) = store();
    store.create(&named("idle")).unwrap();
    store.create(&named("used")).unwrap();
    let in_use = |n: &Network| {
        if n.name == "used" {
            vec!["c".to_string()]
        } else {
            Vec::new()
        }
    };
    assert_eq!(store.prune(&in_use).unwrap(), ["idle"]);
    let names: Vec<String> = store.list().unwrap().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["bridge", "host", "none", "used"]);
    assert!(store.prune(&in_use).unwrap().is_empty());
}
