//! Base images: busybox (reproducible), scratch, and the store basics around them.

// An integration-test file is a test module by nature; the workspace lint targets src/.
#![allow(clippy::tests_outside_test_module)]

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt;

use common::{skip_unless_root, Mount};
use hull_rootfs::{create_writable_disk, Store};

#[test]
fn busybox_bootstraps_resolves_and_mounts() -> anyhow::Result<()> {
    if skip_unless_root("busybox_bootstraps_resolves_and_mounts") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    assert!(!store.exists("busybox")?);
    let started = std::time::Instant::now();
    let image = store
        .ensure_base_image("busybox", &())?
        .expect("busybox is a base image");
    eprintln!("busybox bootstrap took {:?}", started.elapsed());
    assert_eq!(image.references, vec!["busybox:latest".to_owned()]);
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].fstype, "erofs");
    let config = image.config.config().clone().unwrap();
    assert_eq!(config.cmd().clone().unwrap(), vec!["sh".to_owned()]);

    for reference in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox",
        &image.id,
        &image.id[7..19],
    ] {
        assert_eq!(store.resolve(reference)?.id, image.id, "{reference}");
    }

    let mnt = Mount::image(&image.layers[0].path, "erofs", &dir.path().join("mnt"))?;
    let sh = fs::read_link(mnt.dir.join("bin/sh"))?;
    assert_eq!(sh, std::path::Path::new("/bin/busybox"));
    let meta = fs::metadata(mnt.dir.join("bin/busybox"))?;
    assert!(meta.len() > 500_000, "busybox binary present");
    assert!(mnt.dir.join("tmp").is_dir());
    drop(mnt);

    // Reproducible: a second store builds the very same image id.
    let other = tempfile::tempdir()?;
    let again = Store::open(other.path())?.bootstrap("busybox", &())?;
    assert_eq!(again.id, image.id);

    // Implicit pull of an unknown name says "not a base image" with Ok(None).
    assert!(store.ensure_base_image("alpine", &())?.is_none());
    Ok(())
}

#[test]
fn untagged_debian_is_the_debian_base_image_tagged_again_not_built_twice() -> anyhow::Result<()> {
    if skip_unless_root("untagged_debian_is_the_debian_base_image_tagged_again_not_built_twice") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    // Stand-in for a built debian:bookworm (debootstrap takes minutes): any image tagged so.
    let busybox = store.bootstrap("busybox", &())?;
    store.tag("busybox", "debian:bookworm")?;
    let debian = store
        .ensure_base_image("debian", &())?
        .expect("debian is a base image");
    assert_eq!(
        debian.id, busybox.id,
        "the bookworm image, not a new bootstrap"
    );
    assert!(debian.references.contains(&"debian:latest".to_owned()));
    let twelve = store
        .ensure_base_image("debian:12", &())?
        .expect("a base image");
    assert_eq!(twelve.id, busybox.id);
    assert_eq!(store.resolve("debian:latest")?.id, busybox.id);
    Ok(())
}

#[test]
fn scratch_is_one_empty_layer() -> anyhow::Result<()> {
    if skip_unless_root("scratch_is_one_empty_layer") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let image = store.bootstrap("scratch", &())?;
    assert_eq!(image.layers.len(), 1);
    let mnt = Mount::image(&image.layers[0].path, "erofs", &dir.path().join("mnt"))?;
    assert_eq!(fs::read_dir(&mnt.dir)?.count(), 0);
    Ok(())
}

#[test]
fn unknown_base_image_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store.bootstrap("alpine", &()).unwrap_err().to_string();
    assert!(err.contains("busybox, debian:bookworm, scratch"), "{err}");
}

#[test]
fn writable_disk_is_sparse_ext4_with_upper_and_work() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let disk = dir.path().join("rw.img");
    let started = std::time::Instant::now();
    create_writable_disk(&disk, 1 << 30)?;
    eprintln!("create_writable_disk(1 GiB) took {:?}", started.elapsed());
    let meta = fs::metadata(&disk)?;
    assert_eq!(meta.len(), 1 << 30);
    use std::os::unix::fs::MetadataExt;
    assert!(
        meta.blocks() * 512 < 64 << 20,
        "sparse: {} bytes allocated",
        meta.blocks() * 512
    );
    let listing = std::process::Command::new("debugfs")
        .args(["-R", "ls -l /"])
        .arg(&disk)
        .output()?;
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("upper") && text.contains("work"), "{text}");
    // No temp or staging leftovers beside it.
    assert_eq!(fs::read_dir(dir.path())?.count(), 1);
    assert!(!fs::metadata(&disk)?.file_type().is_block_device());
    Ok(())
}

#[test]
fn writable_disks_from_the_store_template_are_sparse_copies_that_fsck_clean() -> anyhow::Result<()>
{
    use std::os::unix::fs::MetadataExt;
    // Small enough to compare byte for byte.
    const SIZE: u64 = 64 << 20;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let containers = dir.path().join("containers");
    fs::create_dir(&containers)?;
    let (first, second) = (containers.join("a.img"), containers.join("b.img"));
    store.new_writable_disk(&first, SIZE)?;
    let started = std::time::Instant::now();
    store.new_writable_disk(&second, SIZE)?;
    eprintln!(
        "writable disk from the template took {:?}",
        started.elapsed()
    );

    let template = dir
        .path()
        .join("store/templates")
        .join(format!("writable-ext4-{}.img", SIZE));
    let template_bytes = fs::read(&template)?;
    for disk in [&first, &second] {
        let meta = fs::metadata(disk)?;
        assert_eq!(meta.len(), SIZE);
        assert!(
            meta.blocks() * 512 < 8 << 20,
            "holes kept: {} bytes allocated",
            meta.blocks() * 512
        );
        assert!(
            fs::read(disk)? == template_bytes,
            "{} differs from the template",
            disk.display()
        );
        let fsck = std::process::Command::new("e2fsck")
            .args(["-fn"])
            .arg(disk)
            .output()?;
        assert!(
            fsck.status.success(),
            "{}",
            String::from_utf8_lossy(&fsck.stdout)
        );
        let listing = std::process::Command::new("debugfs")
            .args(["-R", "ls -l /"])
            .arg(disk)
            .output()?;
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("upper") && text.contains("work"), "{text}");
    }
    // Only the two disks: no temporary files beside them.
    assert_eq!(fs::read_dir(&containers)?.count(), 2);
    // Containers' disks are independent files: writing one leaves the template alone.
    fs::write(&first, b"scribbled")?;
    assert!(fs::read(&template)? == template_bytes);
    Ok(())
}

/// Slow tier (~1-2 min, needs the Debian mirror):
/// `cargo test -p hull-rootfs --test bootstrap -- --ignored debian`
#[test]
#[ignore = "slow: debootstrap of debian:bookworm from the network mirror"]
fn debian_bookworm_bootstraps_with_bash_and_apt() -> anyhow::Result<()> {
    if skip_unless_root("debian_bookworm_bootstraps_with_bash_and_apt") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let image = store
        .ensure_base_image("debian:bookworm", &())?
        .expect("debian is a base image");
    assert_eq!(image.references, vec!["debian:bookworm".to_owned()]);
    let mnt = Mount::image(&image.layers[0].path, "erofs", &dir.path().join("mnt"))?;
    for path in ["usr/bin/bash", "usr/bin/apt-get", "etc/os-release"] {
        assert!(mnt.dir.join(path).exists(), "{path}");
    }
    assert!(fs::read_to_string(mnt.dir.join("etc/os-release"))?.contains("bookworm"));
    assert_eq!(
        fs::read_dir(mnt.dir.join("dev"))?.count(),
        0,
        "no device nodes, like Docker's image"
    );
    Ok(())
}
