//! load / save / tag / rmi / prune / history / inspect, and the 3-layer whiteout image
//! mounted as overlayfs showing Docker's tree.

// An integration-test file is a test module by nature; the workspace lint targets src/.
#![allow(clippy::tests_outside_test_module)]

mod common;

use std::fs;
use std::path::Path;

use common::{
    docker_save_tar, layer_tar, oci_layout_tar, skip_unless_root, tree, Mount, TestLayer, E,
};
use hull_rootfs::{Image, Removed, Store, StoreError};

fn two_layer_archive() -> Vec<u8> {
    let base = TestLayer::gzipped(layer_tar(&[
        E::Dir("etc/"),
        E::File("etc/motd", b"hello\n"),
    ]));
    let top = TestLayer::plain(layer_tar(&[
        E::Dir("app/"),
        E::File("app/run", b"#!/bin/sh\n"),
    ]));
    docker_save_tar("app:v1", &[base, top])
}

fn load_bytes(store: &Store, dir: &Path, name: &str, bytes: Vec<u8>) -> Vec<Image> {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    store.load(&path, &()).unwrap()
}

fn digests(image: &Image) -> (String, String, Vec<String>) {
    (
        image.id.clone(),
        image.manifest_digest.clone(),
        image.layers.iter().map(|l| l.diff_id.clone()).collect(),
    )
}

#[test]
fn load_save_load_gives_identical_digests() -> anyhow::Result<()> {
    if skip_unless_root("load_save_load_gives_identical_digests") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let first = Store::open(&dir.path().join("one"))?;
    let loaded = load_bytes(&first, dir.path(), "in.tar", two_layer_archive()).remove(0);
    assert_eq!(loaded.references, vec!["app:v1".to_owned()]);

    let saved = dir.path().join("saved.tar");
    first.save(&["app:v1"], &saved)?;
    let second = Store::open(&dir.path().join("two"))?;
    let reloaded = second.load(&saved, &())?.remove(0);
    assert_eq!(digests(&reloaded), digests(&loaded));
    assert_eq!(reloaded.references, vec!["app:v1".to_owned()]);

    // And once more through the second store: still identical, byte for byte.
    let saved_again = dir.path().join("saved2.tar");
    second.save(&["app:v1"], &saved_again)?;
    assert_eq!(fs::read(&saved)?, fs::read(&saved_again)?);

    // Block images are identical too (deterministic UUID, preserved mtimes).
    for (a, b) in loaded.layers.iter().zip(&reloaded.layers) {
        assert!(
            fs::read(&a.path)? == fs::read(&b.path)?,
            "layer {} differs",
            a.diff_id
        );
    }
    Ok(())
}

#[test]
fn oci_layout_dir_and_tar_load() -> anyhow::Result<()> {
    if skip_unless_root("oci_layout_dir_and_tar_load") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let layer = TestLayer::gzipped(layer_tar(&[E::File("x", b"1")]));
    let archive = oci_layout_tar("docker.io/library/oci:1", &[layer], |_, _| {});
    let from_tar = load_bytes(&store, dir.path(), "oci.tar", archive.clone()).remove(0);
    assert_eq!(from_tar.references, vec!["oci:1".to_owned()]);

    let layout = dir.path().join("layout");
    tar::Archive::new(&archive[..]).unpack(&layout)?;
    let other = Store::open(&dir.path().join("other"))?;
    let from_dir = other.load(&layout, &())?.remove(0);
    assert_eq!(digests(&from_dir), digests(&from_tar));
    Ok(())
}

#[test]
fn shared_layers_share_one_block_image() -> anyhow::Result<()> {
    if skip_unless_root("shared_layers_share_one_block_image") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let base = || TestLayer::plain(layer_tar(&[E::File("base", b"shared")]));
    let a = load_bytes(
        &store,
        dir.path(),
        "a.tar",
        docker_save_tar("a:1", &[base()]),
    )
    .remove(0);
    let extra = TestLayer::plain(layer_tar(&[E::File("b", b"only b")]));
    let b = load_bytes(
        &store,
        dir.path(),
        "b.tar",
        docker_save_tar("b:1", &[base(), extra]),
    )
    .remove(0);
    assert_eq!(a.layers[0].path, b.layers[0].path);
    assert_eq!(fs::read_dir(dir.path().join("store/layers"))?.count(), 2);
    Ok(())
}

/// A layer the store already holds (same blob digest, same diff id) is not read again:
/// content addressing makes the store's verified copy that layer (Docker's "Already
/// exists"); re-pulling an image costs no decoding. The offered bytes here are even damaged:
/// they are never looked at, and the store's blob stays as it was.
#[test]
fn a_layer_the_store_holds_is_not_read_again() -> anyhow::Result<()> {
    if skip_unless_root("a_layer_the_store_holds_is_not_read_again") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let layer = || TestLayer::gzipped(layer_tar(&[E::File("f", b"stored once")]));
    let original = layer().blob;
    let digest = common::sha256(&original);
    load_bytes(
        &store,
        dir.path(),
        "a.tar",
        oci_layout_tar("a:1", &[layer()], |_, _| {}),
    );
    let damaged = oci_layout_tar("b:1", &[layer()], |d, blob| {
        if d == digest {
            blob.iter_mut().for_each(|b| *b = !*b);
        }
    });
    let b = load_bytes(&store, dir.path(), "b.tar", damaged).remove(0);
    assert_eq!(store.resolve("b:1")?.id, b.id);
    assert_eq!(fs::read(store.blob_file(&digest).unwrap())?, original);
    Ok(())
}

#[test]
fn tag_rmi_prune_follow_docker() -> anyhow::Result<()> {
    if skip_unless_root("tag_rmi_prune_follow_docker") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let image = load_bytes(&store, dir.path(), "in.tar", two_layer_archive()).remove(0);
    store.tag("app:v1", "app:latest")?;
    store.tag(&image.id[7..19], "other")?;
    assert_eq!(store.list(true)?.len(), 3);
    assert!(store.list(true)?.iter().all(|row| row.id == image.id));

    let never = |_: &str| false;
    let always = |_: &str| true;
    // By id with several names: refused unless forced.
    assert!(matches!(
        store.remove(&image.id, false, &never),
        Err(StoreError::MultipleReferences { .. })
    ));
    // By name with other names left: only untagged.
    assert_eq!(
        store.remove("other", false, &never)?,
        vec![Removed::Untagged("other:latest".into())]
    );
    assert_eq!(
        store.remove("app:latest", false, &always)?,
        vec![Removed::Untagged("app:latest".into())]
    );
    // Last name, but a container uses it: refused; forced: untagged, image kept (dangling).
    assert!(matches!(
        store.remove("app:v1", false, &always),
        Err(StoreError::ImageInUse { .. })
    ));
    assert_eq!(
        store.remove("app:v1", true, &always)?,
        vec![Removed::Untagged("app:v1".into())]
    );
    let rows = store.list(true)?;
    assert_eq!(
        (
            rows.len(),
            rows[0].repository.as_str(),
            rows[0].tag.as_str()
        ),
        (1, "<none>", "<none>")
    );
    assert!(store
        .resolve(&image.id)?
        .layers
        .iter()
        .all(|l| l.path.exists()));

    // Prune keeps it while used, then removes it and every file it had.
    assert!(store.prune(false, &always)?.removed.is_empty());
    let report = store.prune(false, &never)?;
    assert_eq!(report.removed, vec![Removed::Deleted(image.id.clone())]);
    assert!(report.reclaimed_bytes > 0);
    assert!(store.list(true)?.is_empty());
    assert_eq!(fs::read_dir(dir.path().join("store/layers"))?.count(), 0);
    assert_eq!(
        fs::read_dir(dir.path().join("store/blobs/sha256"))?.count(),
        0
    );
    assert!(matches!(
        store.resolve("app:v1"),
        Err(StoreError::ImageNotFound(_))
    ));
    Ok(())
}

#[test]
fn history_and_inspect_have_dockers_shape() -> anyhow::Result<()> {
    if skip_unless_root("history_and_inspect_have_dockers_shape") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let image = load_bytes(&store, dir.path(), "in.tar", two_layer_archive()).remove(0);
    let history = store.history("app:v1")?;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].layer, image.layers[1].diff_id, "newest first");
    let json = serde_json::to_value(store.inspect("app:v1")?)?;
    assert_eq!(json["Id"], image.id);
    assert_eq!(json["RepoTags"][0], "app:v1");
    assert_eq!(json["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["Config"]["Cmd"][0], "sh");
    assert_eq!(json["Os"], "linux");
    Ok(())
}

#[test]
fn whiteouts_mounted_as_overlay_show_dockers_tree() -> anyhow::Result<()> {
    if skip_unless_root("whiteouts_mounted_as_overlay_show_dockers_tree") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let add = layer_tar(&[
        E::Dir("a/"),
        E::File("a/keep", b"k"),
        E::File("a/gone", b"g"),
        E::Dir("d/"),
        E::File("d/old1", b"1"),
        E::Dir("d/sub/"),
        E::File("d/sub/old2", b"2"),
        E::File("top", b"t"),
    ]);
    let delete = layer_tar(&[
        E::Dir("a/"),
        E::File("a/.wh.gone", b""),
        E::File("a/new", b"n"),
        E::File(".wh.top", b""),
    ]);
    let opaque = layer_tar(&[
        E::Dir("d/"),
        E::File("d/.wh..wh..opq", b""),
        E::File("d/fresh", b"f"),
    ]);
    let layers = [add, delete, opaque].map(TestLayer::gzipped);
    let image = load_bytes(
        &store,
        dir.path(),
        "wh.tar",
        docker_save_tar("wh:latest", &layers),
    )
    .remove(0);

    let mounts: Vec<Mount> = image
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| Mount::image(&l.path, &l.fstype, &dir.path().join(format!("l{i}"))))
        .collect::<anyhow::Result<_>>()?;
    let lower: Vec<String> = mounts
        .iter()
        .rev()
        .map(|m| m.dir.display().to_string())
        .collect();
    let merged = dir.path().join("merged");
    fs::create_dir(&merged)?;
    Mount::run(&[
        "-t",
        "overlay",
        "overlay",
        "-o",
        &format!("ro,lowerdir={}", lower.join(":")),
        merged.to_str().unwrap(),
    ])?;
    let overlay = Mount {
        dir: merged.clone(),
    };
    // What `docker run wh ls -R` shows for these three layers.
    assert_eq!(tree(&merged), ["a/", "a/keep", "a/new", "d/", "d/fresh"]);
    assert_eq!(fs::read(merged.join("a/keep"))?, b"k");
    drop(overlay);
    drop(mounts);
    Ok(())
}

#[test]
fn owners_modes_times_and_xattrs_are_exact() -> anyhow::Result<()> {
    if skip_unless_root("owners_modes_times_and_xattrs_are_exact") {
        return Ok(());
    }
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let layer = common::layer_with_metadata(
        "suid",
        1234,
        5678,
        0o4750,
        "1600000000.123456789",
        &[
            ("user.hull", b"yes"),
            ("trusted.overlay.redirect", b"/forged"),
        ],
    );
    let image = load_bytes(
        &store,
        dir.path(),
        "meta.tar",
        docker_save_tar("meta:1", &[TestLayer::plain(layer)]),
    )
    .remove(0);
    let mnt = Mount::image(&image.layers[0].path, "erofs", &dir.path().join("mnt"))?;
    let meta = fs::symlink_metadata(mnt.dir.join("suid"))?;
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    assert_eq!(meta.mode() & 0o7777, 0o4750, "setuid survives the chown");
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_600_000_000, 123_456_789)
    );
    let mut value = [0u8; 16];
    let n = rustix::fs::lgetxattr(mnt.dir.join("suid"), "user.hull", &mut value)?;
    assert_eq!(&value[..n], b"yes");
    assert!(
        rustix::fs::lgetxattr(mnt.dir.join("suid"), "trusted.overlay.redirect", &mut value)
            .is_err(),
        "overlay xattrs from a layer are dropped"
    );
    Ok(())
}

#[test]
fn ext4_layers_work_too() -> anyhow::Result<()> {
    if skip_unless_root("ext4_layers_work_too") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let options = hull_rootfs::StoreOptions {
        fstype: hull_rootfs::FsType::Ext4,
        ..Default::default()
    };
    let store = Store::open_with(&dir.path().join("store"), options)?;
    let image = load_bytes(&store, dir.path(), "in.tar", two_layer_archive()).remove(0);
    for layer in &image.layers {
        assert_eq!(layer.fstype, "ext4");
        assert_eq!(layer.size % 4096, 0, "block devices need whole sectors");
    }
    let mnt = Mount::image(&image.layers[0].path, "ext4", &dir.path().join("mnt"))?;
    assert_eq!(fs::read(mnt.dir.join("etc/motd"))?, b"hello\n");
    Ok(())
}

#[test]
fn concurrent_loads_into_one_store_all_land() -> anyhow::Result<()> {
    if skip_unless_root("concurrent_loads_into_one_store_all_land") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("store");
    let archives: Vec<_> = (0..4)
        .map(|i| {
            let path = dir.path().join(format!("{i}.tar"));
            let content = format!("image {i}");
            let shared = TestLayer::plain(layer_tar(&[E::File("shared", b"same in all")]));
            let own = TestLayer::gzipped(layer_tar(&[E::File("own", content.as_bytes())]));
            fs::write(
                &path,
                docker_save_tar(&format!("img{i}:latest"), &[shared, own]),
            )
            .unwrap();
            path
        })
        .collect();
    std::thread::scope(|scope| {
        for archive in &archives {
            let root = root.clone();
            scope.spawn(move || Store::open(&root).unwrap().load(archive, &()).unwrap());
        }
        let root = root.clone();
        scope.spawn(move || {
            Store::open(&root)
                .unwrap()
                .bootstrap("busybox", &())
                .unwrap()
        });
    });
    let store = Store::open(&root)?;
    assert_eq!(store.list(true)?.len(), 5);
    for i in 0..4 {
        assert!(store
            .resolve(&format!("img{i}"))?
            .layers
            .iter()
            .all(|l| l.path.exists()));
    }
    // The shared layer converted once or more, but one file serves all.
    assert_eq!(fs::read_dir(root.join("layers"))?.count(), 4 + 1 + 1);
    Ok(())
}

#[test]
fn load_from_a_stream_like_stdin() -> anyhow::Result<()> {
    if skip_unless_root("load_from_a_stream_like_stdin") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let bytes = two_layer_archive();
    let image = store.load_reader(&mut &bytes[..], &())?.remove(0);
    assert_eq!(image.references, vec!["app:v1".to_owned()]);
    assert_eq!(
        fs::read_dir(dir.path().join("store/tmp"))?.count(),
        0,
        "spool removed"
    );
    Ok(())
}

#[test]
fn many_layers_convert_in_parallel_in_order_and_one_bad_layer_stores_nothing() -> anyhow::Result<()>
{
    if skip_unless_root("many_layers_convert_in_parallel_in_order_and_one_bad_layer_stores_nothing")
    {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let layers: Vec<TestLayer> = (0..8)
        .map(|n| {
            let name = format!("layer-{n}");
            TestLayer::gzipped(layer_tar(&[E::File(&name, name.as_bytes())]))
        })
        .collect();
    let expected: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let corrupt_digest = common::sha256(&layers[5].blob);
    let bad = oci_layout_tar("bad:1", &layers, |digest, blob| {
        if digest == corrupt_digest {
            let middle = blob.len() / 2;
            blob[middle] ^= 0xff;
        }
    });
    let path = dir.path().join("bad.tar");
    fs::write(&path, bad)?;
    let err = store.load(&path, &()).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(store.list(true)?.is_empty(), "nothing stored");

    let images = load_bytes(
        &store,
        dir.path(),
        "good.tar",
        oci_layout_tar("good:1", &layers, |_, _| {}),
    );
    let diff_ids: Vec<String> = images[0].layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, expected, "layers keep the image's order");
    Ok(())
}
