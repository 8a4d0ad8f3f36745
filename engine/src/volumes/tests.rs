use super::*;

#[test]
fn volume_flags_parse_like_dockers() {
    let named = parse_volume_flag("data:/var/lib/db:ro").unwrap();
    assert_eq!(
        (named.kind, named.source.as_str()),
        (MountKind::Volume, "data")
    );
    assert_eq!(named.destination, "/var/lib/db");
    assert!(named.read_only && named.copy_up);
    let bind = parse_volume_flag("/srv/code/:/code").unwrap();
    assert_eq!(
        (bind.kind, bind.source.as_str()),
        (MountKind::Bind, "/srv/code")
    );
    assert!(!bind.read_only && !bind.copy_up);
    let anonymous = parse_volume_flag("/data").unwrap();
    assert_eq!(
        (anonymous.kind, anonymous.source.as_str()),
        (MountKind::Volume, "")
    );
    let anonymous_ro = parse_volume_flag("/data:ro").unwrap();
    assert!(anonymous_ro.read_only && anonymous_ro.source.is_empty());
    assert!(!parse_volume_flag("data:/d:nocopy").unwrap().copy_up);
    // `..` is resolved lexically; the result may not be `/`.
    assert_eq!(
        parse_volume_flag("v1:/a/../b/./c").unwrap().destination,
        "/b/c"
    );
    for (bad, says) in [
        ("./rel:/x", "invalid characters for a local volume name"),
        ("data:rel", "mount path must be absolute"),
        ("data:/x:bogus", "invalid mode: bogus"),
        ("data:/..", "destination can't be '/'"),
        ("a:b:c:d", "invalid volume specification"),
        ("x:/y", "invalid characters"),
    ] {
        let err = parse_volume_flag(bad).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn mount_flags_parse_like_dockers() {
    let dir = std::env::temp_dir();
    let bind = parse_mount_flag(&format!(
        "type=bind,source={},target=/host,readonly",
        dir.display()
    ))
    .unwrap();
    assert_eq!(bind.kind, MountKind::Bind);
    assert!(bind.read_only);
    let volume = parse_mount_flag("type=volume,src=cache,dst=/c,volume-nocopy").unwrap();
    assert!(!volume.copy_up && volume.source == "cache");
    let tmpfs =
        parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=1770").unwrap();
    assert_eq!(tmpfs.tmpfs_options, ["size=1048576", "mode=1770"]);
    for (bad, says) in [
        (
            "type=bind,source=/no/such/dir/here,target=/x",
            "bind source path does not exist",
        ),
        ("type=bind,source=rel,target=/x", "must be absolute"),
        ("type=volume,source=v1", "target is required"),
        ("type=nfs,target=/x", "invalid mount type"),
        ("type=tmpfs,source=x,target=/x", "must not be specified"),
        ("type=volume,target=/x,colour=red", "unexpected key"),
    ] {
        let err = parse_mount_flag(bad).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn tmpfs_gets_dockers_default_options_and_duplicates_are_refused() {
    let tmpfs = parse_tmpfs_flag("/run:size=64m,exec").unwrap();
    assert_eq!(
        tmpfs_mount_options(&tmpfs),
        ["rw", "noexec", "nosuid", "nodev", "size=64m", "exec"]
    );
    let twice = [
        parse_tmpfs_flag("/x").unwrap(),
        parse_volume_flag("v1:/x").unwrap(),
    ];
    let err = check_duplicates(&twice).unwrap_err().to_string();
    assert_eq!(err, "Duplicate mount point: /x");
}

#[test]
fn oci_mounts_number_the_share_entries_and_put_parents_first() {
    let mounts = [
        parse_volume_flag("inner:/data/cache").unwrap(),
        parse_tmpfs_flag("/t").unwrap(),
        parse_volume_flag("/srv:/data:ro").unwrap(),
    ];
    let oci = oci_mounts(&mounts).unwrap();
    let summary: Vec<(String, String, Vec<String>)> = oci
        .iter()
        .map(|m| {
            (
                m.destination().display().to_string(),
                m.source().as_ref().unwrap().display().to_string(),
                m.options().clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary[0].0, "/t");
    assert_eq!(
        summary[1],
        (
            "/data".into(),
            "hull-share/1".into(),
            vec!["rbind".into(), "ro".into()]
        )
    );
    assert_eq!(
        summary[2],
        (
            "/data/cache".into(),
            "hull-share/0".into(),
            vec!["rbind".into(), "rw".into(), "hull-copy-up".into()]
        )
    );
    assert_eq!(shared(&mounts).count(), 2);
}

#[test]
fn the_store_keeps_dockers_layout_and_names() {
    let root = std::env::temp_dir().join(format!("hull-volumes-{}", std::process::id()));
    let store = VolumeStore::open(&root).unwrap();
    let labels = BTreeMap::from([("team".to_string(), "db".to_string())]);
    let made = store
        .create(Some("pgdata"), labels.clone(), BTreeMap::new())
        .unwrap();
    assert_eq!(made.mountpoint, root.join("volumes/pgdata/_data"));
    assert!(made.mountpoint.is_dir());
    std::fs::write(made.mountpoint.join("keep"), "x").unwrap();
    // Creating it again returns it unchanged, content and labels included.
    let again = store
        .create(Some("pgdata"), BTreeMap::new(), BTreeMap::new())
        .unwrap();
    assert_eq!(again, made);
    assert!(made.mountpoint.join("keep").exists());
    for bad in ["a", "-x", "x/y", "..", "a b"] {
        assert!(
            store
                .create(Some(bad), BTreeMap::new(), BTreeMap::new())
                .is_err(),
            "{bad}"
        );
        assert!(
            matches!(store.get(bad), Err(Error::NoSuchVolume(_))),
            "{bad}"
        );
    }
    let json = serde_json::to_value(&made).unwrap();
    for key in [
        "CreatedAt",
        "Driver",
        "Labels",
        "Mountpoint",
        "Name",
        "Options",
        "Scope",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    store.delete("pgdata").unwrap();
    assert!(!root.join("volumes/pgdata").exists());
    std::fs::remove_dir_all(root).unwrap();
}
