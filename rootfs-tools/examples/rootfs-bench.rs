//! Conversion bench (issue 7 "Performance"): bootstraps debian:bookworm (minutes, needs the
//! Debian mirror), saves it, then loads the saved tar into fresh stores converting to erofs
//! and to ext4, printing tar size, block image size and conversion throughput.
//!
//! Run as root: `cargo run --release -p hull-rootfs --example rootfs-bench -- /var/tmp/hull-bench`
//! (a second run reuses the bootstrapped image in that directory).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use hull_rootfs::{FsType, Progress, Store, StoreOptions};

/// Prints progress lines to stderr.
struct Lines;

impl Progress for Lines {
    fn start(&self, task: &str, total: Option<u64>) {
        eprintln!("[start] {task} ({total:?} bytes)");
    }
    fn message(&self, message: &str) {
        eprintln!("  {message}");
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn allocated(path: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.blocks() * 512)
}

fn main() -> Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/var/tmp/hull-bench".into()),
    );
    let base = Store::open(&dir.join("base"))?;
    let started = Instant::now();
    let image = base
        .ensure_base_image("debian:bookworm", &Lines)?
        .context("debian is a base image")?;
    println!(
        "debian:bookworm ready in {:.1} s (0 if it was already there): {}",
        started.elapsed().as_secs_f64(),
        image.id
    );

    let saved = dir.join("debian.tar");
    if !saved.exists() {
        base.save(&["debian:bookworm"], &saved)?;
    }
    let tar_size = image.size;
    println!("layer tar: {:.1} MiB uncompressed", mib(tar_size));

    for fstype in [FsType::Erofs, FsType::Ext4] {
        let root = dir.join(format!("store-{}", fstype.as_str()));
        let _ = std::fs::remove_dir_all(&root);
        let store = Store::open_with(
            &root,
            StoreOptions {
                fstype,
                ..StoreOptions::default()
            },
        )?;
        let started = Instant::now();
        let loaded = store.load(&saved, &())?.remove(0);
        let secs = started.elapsed().as_secs_f64();
        let layer = &loaded.layers[0];
        println!(
            "{:5}: load+convert {:.2} s = {:.0} MB/s of tar; image {:.1} MiB apparent, {:.1} MiB allocated ({:.0}% of tar)",
            fstype.as_str(),
            secs,
            tar_size as f64 / 1e6 / secs,
            mib(layer.size),
            mib(allocated(&layer.path)?),
            100.0 * allocated(&layer.path)? as f64 / tar_size as f64,
        );
    }
    Ok(())
}
