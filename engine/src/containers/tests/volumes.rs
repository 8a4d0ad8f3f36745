//! Containers and their volumes: made at create, refused removal while used, `rm -v`,
//! `--volumes-from`, prune.

use super::*;
use crate::volumes::{parse_volume_flag, MountKind, VolumeFilter, Volumes};

fn create_with(
    fixture: &Fixture,
    name: &str,
    volumes: &[&str],
    from: &[&str],
) -> Result<Container> {
    let mut request = offline_request();
    request.name = Some(name.into());
    request.config.mounts = volumes
        .iter()
        .map(|v| parse_volume_flag(v).unwrap())
        .collect();
    request.config.volumes_from = from.iter().map(|f| (*f).to_string()).collect();
    fixture.containers.create(&request, &())
}

#[test]
fn volumes_are_made_at_create_and_outlive_the_container_unless_anonymous() {
    let fixture = Fixture::new();
    let volumes = Volumes::open(&fixture.root).unwrap();
    let web = create_with(&fixture, "web", &["data:/data", "/cache"], &[]).unwrap();
    let anonymous = web.config.mounts[1].source.clone();
    assert_eq!(anonymous.len(), 64, "anonymous volumes get an id");
    let names: Vec<String> = volumes
        .list(&VolumeFilter::default())
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"data".to_string()) && names.contains(&anonymous));
    // Used by a (stopped) container: refused, naming it, as Docker's.
    match volumes.remove("data", false) {
        Err(Error::VolumeInUse { name, users }) => {
            assert_eq!(name, "data");
            assert_eq!(users, vec![web.id.clone()]);
        }
        other => panic!("expected in use, got {other:?}"),
    }
    assert_eq!(
        volumes
            .list(&VolumeFilter::parse(&["dangling=true".into()]).unwrap())
            .unwrap(),
        vec![]
    );
    // rm -v: the anonymous volume goes, the named one stays.
    fixture
        .containers
        .remove_with_volumes("web", false, true)
        .unwrap();
    let left: Vec<String> = volumes
        .list(&VolumeFilter::default())
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(left, vec!["data".to_string()]);
    volumes.remove("data", false).unwrap();
    assert!(matches!(volumes.get("data"), Err(Error::NoSuchVolume(_))));
}

#[test]
fn volumes_from_shares_the_mounts_and_keeps_the_volume_alive() {
    let fixture = Fixture::new();
    let volumes = Volumes::open(&fixture.root).unwrap();
    let source = create_with(&fixture, "source", &["/shared", "logs:/logs"], &[]).unwrap();
    let reader = create_with(&fixture, "reader", &["other:/logs"], &["source:ro"]).unwrap();
    let shared = &reader.config.mounts[0];
    assert_eq!(shared.source, source.config.mounts[0].source);
    assert!(shared.read_only && !shared.copy_up);
    // A destination given again overrides the inherited one.
    assert_eq!(reader.config.mounts.len(), 2);
    assert_eq!(reader.config.mounts[1].source, "other");
    // The anonymous volume is still used by `reader`: rm -v of `source` keeps it.
    fixture
        .containers
        .remove_with_volumes("source", false, true)
        .unwrap();
    assert!(volumes.get(&shared.source).is_ok());
    let bad = create_with(&fixture, "bad", &[], &["reader:rx"]).unwrap_err();
    assert!(bad.to_string().contains("invalid mode"), "{bad}");
    assert!(matches!(
        create_with(&fixture, "bad", &[], &["nobody"]),
        Err(Error::NoSuchContainer(_))
    ));
}

#[test]
fn prune_removes_unused_anonymous_volumes_and_with_all_named_ones() {
    let fixture = Fixture::new();
    let volumes = Volumes::open(&fixture.root).unwrap();
    let used = create_with(&fixture, "used", &["/a"], &[]).unwrap();
    let gone = create_with(&fixture, "gone", &["/b", "named:/n"], &[]).unwrap();
    fixture.containers.remove("gone", false).unwrap();
    let (removed, _) = volumes.prune(false).unwrap();
    assert_eq!(removed, vec![gone.config.mounts[0].source.clone()]);
    let (removed, _) = volumes.prune(true).unwrap();
    assert_eq!(removed, vec!["named".to_string()]);
    assert!(volumes.get(&used.config.mounts[0].source).is_ok());
}

#[test]
fn a_tmpfs_alone_makes_no_volume() {
    let fixture = Fixture::new();
    let mut request = offline_request();
    request.config.mounts = vec![crate::volumes::parse_tmpfs_flag("/t").unwrap()];
    let made = fixture.containers.create(&request, &()).unwrap();
    assert_eq!(made.config.mounts[0].kind, MountKind::Tmpfs);
    let volumes = Volumes::open(&fixture.root).unwrap();
    assert!(volumes.list(&VolumeFilter::default()).unwrap().is_empty());
}
