//! kill -9 during load and during conversion: the store stays consistent (lists what it
//! listed before, every listed image has all its files, no temp data survives the next open)
//! and a retry succeeds. The victim is this test binary re-executed as a helper.

// An integration-test file is a test module by nature; the workspace lint targets src/.
#![allow(clippy::tests_outside_test_module)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::{docker_save_tar, layer_tar, skip_unless_root, TestLayer, E};
use hull_rootfs::Store;

/// Set (to "ROOT|ARCHIVE") when this binary runs as the helper that gets killed.
const HELPER_ENV: &str = "HULL_ROOTFS_CRASH_HELPER";

#[test]
#[ignore = "helper process for the kill -9 tests; does nothing unless HULL_ROOTFS_CRASH_HELPER is set"]
fn crash_helper() {
    let Ok(spec) = std::env::var(HELPER_ENV) else {
        return;
    };
    let (root, archive) = spec.split_once('|').expect("ROOT|ARCHIVE");
    let store = Store::open(Path::new(root)).expect("open store");
    store.load(Path::new(archive), &()).expect("load");
}

fn spawn_helper(root: &Path, archive: &Path) -> Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args([
            "crash_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            HELPER_ENV,
            format!("{}|{}", root.display(), archive.display()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?)
}

/// Pseudo-random bytes (incompressible, no all-zero blocks) so conversion takes a while.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn big_archive(dir: &Path) -> Result<PathBuf> {
    let (a, b) = (noise(8 << 20, 1), noise(8 << 20, 2));
    let base = TestLayer::gzipped(layer_tar(&[E::Dir("data/"), E::File("data/a", &a)]));
    let top = TestLayer::plain(layer_tar(&[E::File("data/b", &b)]));
    let path = dir.join("big.tar");
    fs::write(&path, docker_save_tar("big:latest", &[base, top]))?;
    Ok(path)
}

/// A store with one small image, so "lists what it listed before" is not trivially empty.
fn store_with_one_image(dir: &Path, name: &str) -> Result<PathBuf> {
    let root = dir.join(name);
    let small = dir.join(format!("{name}-small.tar"));
    fs::write(
        &small,
        docker_save_tar(
            "small:1",
            &[TestLayer::plain(layer_tar(&[E::File("s", b"s")]))],
        ),
    )?;
    Store::open(&root)?.load(&small, &())?;
    Ok(root)
}

/// Whether any file under the store's tmp/ has a name starting with `prefix`.
fn tmp_has(root: &Path, prefix: &str) -> bool {
    let Ok(works) = fs::read_dir(root.join("tmp")) else {
        return false;
    };
    works.flatten().any(|w| {
        fs::read_dir(w.path())
            .map(|files| {
                files
                    .flatten()
                    .any(|f| f.file_name().to_string_lossy().starts_with(prefix))
            })
            .unwrap_or(false)
    })
}

/// Opens the store like the next hull process would and checks it is consistent.
fn assert_consistent(root: &Path, expected_rows: &[hull_rootfs::ImageSummary]) -> Result<Store> {
    let store = Store::open(root)?;
    let rows = store.list(true)?;
    let names = |r: &[hull_rootfs::ImageSummary]| {
        r.iter()
            .map(|r| format!("{}:{}", r.repository, r.tag))
            .collect::<Vec<_>>()
    };
    // Either the old listing, or the old one plus the complete new image.
    let old = names(expected_rows);
    let now = names(&rows);
    ensure!(
        now == old
            || now
                .iter()
                .filter(|n| !old.contains(n))
                .eq(["big:latest"].iter()),
        "listing changed: {now:?} vs {old:?}"
    );
    for row in &rows {
        let image = store.resolve(&row.id)?;
        for layer in &image.layers {
            ensure!(
                layer.path.exists(),
                "{} lacks layer file {}",
                row.id,
                layer.path.display()
            );
        }
    }
    ensure!(
        fs::read_dir(root.join("tmp"))?.count() == 0,
        "temporary data survived Store::open"
    );
    Ok(store)
}

fn kill_when(root: &Path, archive: &Path, prefix: &str) -> Result<()> {
    let before = Store::open(root)?.list(true)?;
    let mut child = spawn_helper(root, archive)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tmp_has(root, prefix) {
        ensure!(
            child.try_wait()?.is_none(),
            "helper finished before reaching {prefix}"
        );
        ensure!(Instant::now() < deadline, "helper never reached {prefix}");
        std::thread::sleep(Duration::from_micros(200));
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    let store = assert_consistent(root, &before)?;
    ensure!(
        store.list(true)? == before,
        "a killed load changed the listing"
    );
    let image = store.load(archive, &())?.remove(0);
    ensure!(image.layers.iter().all(|l| l.path.exists()));
    ensure!(store.resolve("big:latest")?.id == image.id);
    Ok(())
}

#[test]
fn kill_9_while_reading_blobs_then_retry() -> Result<()> {
    if skip_unless_root("kill_9_while_reading_blobs_then_retry") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let archive = big_archive(dir.path())?;
    let root = store_with_one_image(dir.path(), "store")?;
    kill_when(&root, &archive, "incoming-")
}

/// A layer is read from its tar stream straight into its erofs image (`image-*` in the work
/// dir from the first entry on): a kill mid-layer leaves a partial image that must never
/// reach the store.
#[test]
fn kill_9_while_streaming_a_layer_into_its_image_then_retry() -> Result<()> {
    if skip_unless_root("kill_9_while_streaming_a_layer_into_its_image_then_retry") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let archive = big_archive(dir.path())?;
    let root = store_with_one_image(dir.path(), "store")?;
    kill_when(&root, &archive, "image-")
}

#[test]
fn kill_9_at_spread_out_moments_never_leaves_half_an_image() -> Result<()> {
    if skip_unless_root("kill_9_at_spread_out_moments_never_leaves_half_an_image") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let archive = big_archive(dir.path())?;
    // How long a whole load takes here, to spread the kills over it (commit included).
    let timing_root = dir.path().join("timing");
    let started = Instant::now();
    spawn_helper(&timing_root, &archive)?.wait()?;
    let total = started.elapsed();
    eprintln!("one load of the 16 MiB archive in a helper: {total:?}");
    let root = store_with_one_image(dir.path(), "store")?;
    let before = Store::open(&root)?.list(true)?;
    for step in 1..=6u32 {
        let mut child = spawn_helper(&root, &archive)?;
        std::thread::sleep(total * step / 6);
        let _ = child.kill();
        child.wait()?;
        let store = assert_consistent(&root, &before)?;
        // Undo a load that completed before the kill, so each round starts from `before`.
        if store.exists("big:latest")? {
            store.remove("big:latest", false, &|_| false)?;
        }
    }
    let store = Store::open(&root)?;
    store.load(&archive, &())?;
    ensure!(store.list(true)?.len() == before.len() + 1);
    Ok(())
}
