//! Hostile layer tarballs: each is rejected with a clear message, nothing is written
//! outside the store, and the store lists exactly what it listed before.

// An integration-test file is a test module by nature; the workspace lint targets src/.
#![allow(clippy::tests_outside_test_module)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{
    docker_save_tar, layer_tar, oci_layout_tar, skip_unless_root, sparse_bomb_tar, TestLayer, E,
};
use hull_rootfs::{Store, StoreError, StoreOptions};

/// A store holding one good image, a directory outside it that hostile layers aim at, and
/// a snapshot to compare against.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    store: Store,
}

impl Fixture {
    fn new() -> Self {
        Self::with_options(StoreOptions::default())
    }

    fn with_options(options: StoreOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let store = Store::open_with(&root, options).unwrap();
        let good = dir.path().join("good.tar");
        fs::write(
            &good,
            docker_save_tar(
                "good:1",
                &[TestLayer::plain(layer_tar(&[E::File("hello", b"hi")]))],
            ),
        )
        .unwrap();
        store.load(&good, &()).unwrap();
        Fixture {
            _dir: dir,
            root,
            outside,
            store,
        }
    }

    /// Loads `archive` expecting an error; checks store and outside are unchanged.
    fn reject(&self, archive: Vec<u8>) -> StoreError {
        let path = self.outside.parent().unwrap().join("hostile.tar");
        fs::write(&path, archive).unwrap();
        self.reject_with(|store| store.load(&path, &()))
    }

    /// [`Self::reject`] for an OCI layout tar unpacked into a directory the store may take
    /// blobs from (a pull's download): linked blobs are verified as copied ones are.
    fn reject_owned_layout(&self, archive: Vec<u8>) -> StoreError {
        let layout = self.outside.parent().unwrap().join("download");
        tar::Archive::new(archive.as_slice())
            .unpack(&layout)
            .unwrap();
        let before = files(&layout);
        let err = self.reject_with(|store| store.load_owned_layout(&layout, &|_| true, &()));
        assert_eq!(files(&layout), before, "the layout keeps its files");
        err
    }

    fn reject_with(
        &self,
        load: impl FnOnce(&Store) -> Result<Vec<hull_rootfs::Image>, StoreError>,
    ) -> StoreError {
        let before = (self.store.list(true).unwrap(), files(&self.root));
        let err = load(&self.store).expect_err("hostile archive must be rejected");
        eprintln!("rejected with: {err}");
        assert_eq!(
            self.store.list(true).unwrap(),
            before.0,
            "the store lists the same images"
        );
        assert_eq!(
            files(&self.root),
            before.1,
            "no file added or removed in the store"
        );
        assert_eq!(
            fs::read_dir(&self.outside).unwrap().count(),
            0,
            "nothing written outside"
        );
        err
    }
}

/// Every path under `root` (the lock file aside), sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

fn unsafe_entry(err: &StoreError) -> String {
    match err {
        StoreError::UnsafeLayerEntry { reason, .. } => reason.clone(),
        other => panic!("expected an unsafe-entry rejection, got: {other}"),
    }
}

fn single_layer(entries: &[E<'_>]) -> Vec<u8> {
    docker_save_tar("evil:latest", &[TestLayer::gzipped(layer_tar(entries))])
}

#[test]
fn dotdot_traversal_is_rejected() {
    if skip_unless_root("dotdot_traversal_is_rejected") {
        return;
    }
    let fx = Fixture::new();
    for name in ["../../outside/pwned", "a/../../outside/pwned"] {
        let reason = unsafe_entry(&fx.reject(single_layer(&[E::File(name, b"x")])));
        assert!(reason.contains(".."), "{reason}");
    }
}

#[test]
fn absolute_paths_are_rejected() {
    if skip_unless_root("absolute_paths_are_rejected") {
        return;
    }
    let fx = Fixture::new();
    let target = format!("{}/pwned", fx.outside.display());
    let reason = unsafe_entry(&fx.reject(single_layer(&[E::File(&target, b"x")])));
    assert!(reason.contains("absolute"), "{reason}");
}

#[test]
fn writing_through_a_symlink_is_rejected() {
    if skip_unless_root("writing_through_a_symlink_is_rejected") {
        return;
    }
    let fx = Fixture::new();
    let outside = fx.outside.display().to_string();
    for link in [outside.as_str(), "../../../../../../../.."] {
        let reason = unsafe_entry(&fx.reject(single_layer(&[
            E::Symlink("escape", link),
            E::File("escape/pwned", b"x"),
        ])));
        assert!(reason.contains("symlink"), "{reason}");
    }
}

#[test]
fn hardlink_to_outside_is_rejected() {
    if skip_unless_root("hardlink_to_outside_is_rejected") {
        return;
    }
    let fx = Fixture::new();
    let secret = fx.outside.parent().unwrap().join("secret");
    fs::write(&secret, b"host secret").unwrap();
    let secret_name = secret.display().to_string();
    let cases: [&[E<'_>]; 3] = [
        &[E::Hardlink("h", &secret_name)],
        &[E::Hardlink("h", "../../secret")],
        &[E::Symlink("s", "/"), E::Hardlink("h", "s/etc/passwd")],
    ];
    for entries in cases {
        let reason = unsafe_entry(&fx.reject(single_layer(entries)));
        assert!(
            reason.contains("absolute") || reason.contains("..") || reason.contains("symlink"),
            "{reason}"
        );
    }
    assert_eq!(fs::read(&secret).unwrap(), b"host secret");
}

#[test]
fn device_nodes_are_stored_as_data_never_opened() {
    if skip_unless_root("device_nodes_are_stored_as_data_never_opened") {
        return;
    }
    // A layer may carry device nodes (debootstrap's /dev has them): they are created inside
    // the staging dir as inert data and only come alive in the guest. What must never happen
    // is hull *opening* one: a fifo followed by a file of the same name would block forever,
    // and a device followed by a file would write into the device.
    let fx = Fixture::new();
    let path = fx.outside.parent().unwrap().join("dev.tar");
    let layer = layer_tar(&[
        E::Dir("dev/"),
        E::Char("dev/hostdisk", 8, 0),
        E::Fifo("dev/pipe"),
        E::File("dev/pipe", b"replaced, not written into"),
        E::Char("dev/null", 1, 3),
    ]);
    fs::write(
        &path,
        docker_save_tar("dev:latest", &[TestLayer::plain(layer)]),
    )
    .unwrap();
    let image = fx.store.load(&path, &()).unwrap().remove(0);
    let mnt = common::Mount::image(
        &image.layers[0].path,
        "erofs",
        &fx.outside.parent().unwrap().join("mnt"),
    )
    .unwrap();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let disk = fs::symlink_metadata(mnt.dir.join("dev/hostdisk")).unwrap();
    assert!(disk.file_type().is_char_device());
    assert_eq!(disk.rdev(), rustix::fs::makedev(8, 0));
    let pipe = fs::symlink_metadata(mnt.dir.join("dev/pipe")).unwrap();
    assert!(pipe.file_type().is_file());
    assert_eq!(
        fs::read(mnt.dir.join("dev/pipe")).unwrap(),
        b"replaced, not written into"
    );
}

#[test]
fn sparse_10gb_bomb_is_rejected_at_once() {
    if skip_unless_root("sparse_10gb_bomb_is_rejected_at_once") {
        return;
    }
    let fx = Fixture::new();
    let started = std::time::Instant::now();
    let err = fx.reject(docker_save_tar(
        "bomb:latest",
        &[TestLayer::gzipped(sparse_bomb_tar(10_000_000_000))],
    ));
    assert!(matches!(err, StoreError::LayerTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("HULL_MAX_LAYER_BYTES"), "{err}");
    assert!(
        started.elapsed().as_secs() < 5,
        "rejected before writing: {:?}",
        started.elapsed()
    );
}

#[test]
fn gzip_bomb_beyond_the_limit_is_rejected() {
    if skip_unless_root("gzip_bomb_beyond_the_limit_is_rejected") {
        return;
    }
    let fx = Fixture::with_options(StoreOptions {
        max_layer_bytes: 4 << 20,
        ..StoreOptions::default()
    });
    let zeros = vec![0u8; 16 << 20];
    let err = fx.reject(single_layer(&[E::File("zeros", &zeros)]));
    assert!(matches!(err, StoreError::LayerTooLarge { .. }), "{err}");
}

#[test]
fn truncated_gzip_is_rejected() {
    if skip_unless_root("truncated_gzip_is_rejected") {
        return;
    }
    let fx = Fixture::new();
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let mut layer = TestLayer::gzipped(layer_tar(&[E::File("data", &data)]));
    layer.blob.truncate(layer.blob.len() / 2);
    let err = fx.reject(docker_save_tar("cut:latest", &[layer]));
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("corrupt or truncated"), "{err}");
}

/// An OCI layout tar whose layer blob has its last byte flipped after its digest was taken.
fn layout_with_a_tampered_layer() -> Vec<u8> {
    let layer = TestLayer::gzipped(layer_tar(&[E::File("f", b"content")]));
    let layer_digest = common::sha256(&layer.blob);
    oci_layout_tar("tampered:latest", &[layer], |digest, blob| {
        if digest == layer_digest {
            let last = blob.len() - 1;
            blob[last] ^= 0xff;
        }
    })
}

#[test]
fn wrong_blob_digest_is_rejected() {
    if skip_unless_root("wrong_blob_digest_is_rejected") {
        return;
    }
    let err = Fixture::new().reject(layout_with_a_tampered_layer());
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
}

#[test]
fn a_linked_blob_with_a_wrong_digest_is_rejected() {
    if skip_unless_root("a_linked_blob_with_a_wrong_digest_is_rejected") {
        return;
    }
    let err = Fixture::new().reject_owned_layout(layout_with_a_tampered_layer());
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
}

/// A layout the caller vouches for (a pull's, verified as it downloaded) is not hashed a
/// second time, but a layer whose content is not what the image config says is still
/// refused: its diff id is checked as it decodes.
#[test]
fn a_verified_layout_still_checks_layer_contents_against_the_config() {
    if skip_unless_root("a_verified_layout_still_checks_layer_contents_against_the_config") {
        return;
    }
    let fx = Fixture::new();
    let layer = TestLayer::gzipped(layer_tar(&[E::File("f", b"what the config names")]));
    let layer_digest = common::sha256(&layer.blob);
    let other = TestLayer::gzipped(layer_tar(&[E::File("f", b"something else entirely")]));
    let archive = oci_layout_tar("swapped:latest", &[layer], |digest, blob| {
        if digest == layer_digest {
            blob.clone_from(&other.blob);
        }
    });
    let layout = fx.outside.parent().unwrap().join("download");
    tar::Archive::new(archive.as_slice())
        .unpack(&layout)
        .unwrap();
    let err = fx.reject_with(|store| store.load_verified_layout(&layout, &|_| true, &()));
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("diff_id"), "{err}");
}

#[test]
fn a_linked_blob_with_data_after_its_gzip_stream_is_rejected() {
    if skip_unless_root("a_linked_blob_with_data_after_its_gzip_stream_is_rejected") {
        return;
    }
    let fx = Fixture::new();
    let mut layer = TestLayer::gzipped(layer_tar(&[E::File("f", b"content")]));
    layer.blob.extend_from_slice(b"not gzip");
    let err = fx.reject_owned_layout(oci_layout_tar("trailing:latest", &[layer], |_, _| {}));
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn a_linked_layout_loads_like_a_copied_one() {
    if skip_unless_root("a_linked_layout_loads_like_a_copied_one") {
        return;
    }
    let fx = Fixture::new();
    let layer = TestLayer::gzipped(layer_tar(&[E::File("f", b"linked content")]));
    let blob = layer.blob.clone();
    let layout = fx.outside.parent().unwrap().join("download");
    tar::Archive::new(oci_layout_tar("linked:1", &[layer], |_, _| {}).as_slice())
        .unpack(&layout)
        .unwrap();
    let images = fx.store.load_owned_layout(&layout, &|_| true, &()).unwrap();
    assert_eq!(images.len(), 1);
    // The caller deletes its download; the store's blob is whole and the image resolves.
    fs::remove_dir_all(&layout).unwrap();
    let stored = fx.store.blob_file(&common::sha256(&blob)).unwrap();
    assert_eq!(fs::read(stored).unwrap(), blob);
    assert_eq!(fx.store.resolve("linked:1").unwrap().id, images[0].id);
}

#[test]
fn wrong_diff_id_is_rejected() {
    if skip_unless_root("wrong_diff_id_is_rejected") {
        return;
    }
    let fx = Fixture::new();
    let mut layer = TestLayer::plain(layer_tar(&[E::File("f", b"content")]));
    layer.diff_id = common::sha256(b"something else");
    let err = fx.reject(docker_save_tar("liar:latest", &[layer]));
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("diff_id"), "{err}");
}
