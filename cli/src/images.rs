//! The CLI's window on the image store (hull-rootfs): resolution with Docker's implicit
//! "pull" (here: bootstrap of the offline base images), progress bars, JSON views.

use crate::args::Globals;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

pub use hull_rootfs::{Image, LayerImage, Store};

/// The image store under `--root`.
pub fn open(globals: &Globals) -> Result<Store> {
    Store::open(&globals.root).with_context(|| {
        format!(
            "cannot open the image store at {}: run as root or set --root/HULL_ROOT",
            globals.root.display()
        )
    })
}

/// `reference`, created first when it is one of the offline base images (busybox,
/// debian:bookworm, scratch), the way `docker run` pulls a missing image.
pub fn resolve_or_bootstrap(store: &Store, reference: &str) -> Result<Image> {
    if let Ok(image) = store.resolve(reference) {
        return Ok(image);
    }
    let progress = TerminalProgress::new();
    if std::io::stderr().is_terminal() {
        eprintln!("Unable to find image '{reference}' locally");
    }
    match store.ensure_base_image(reference, &progress)? {
        Some(image) => Ok(image),
        None => anyhow::bail!(
            "Unable to find image '{reference}' locally, and hull cannot pull from a registry: \
             load it (hull load -i FILE) or use a base image (busybox, debian:bookworm, scratch)"
        ),
    }
}

/// The image's runtime config (Entrypoint, Cmd, Env, WorkingDir, User).
pub fn runtime_config(image: &Image) -> oci_spec::image::Config {
    image.config.config().clone().unwrap_or_default()
}

/// The image's layer disks, bottom first.
pub fn layers(image: &Image) -> Vec<LayerImage> {
    image.layers.clone()
}

/// The image's id (`sha256:...`).
pub fn image_id(image: &Image) -> String {
    image.id.clone()
}

/// A new sparse ext4 writable layer at `path`.
pub fn create_writable_disk(store: &Store, path: &Path, size: u64) -> Result<()> {
    store
        .new_writable_disk(path, size)
        .with_context(|| format!("cannot create the writable layer {}", path.display()))
}

/// The contents of each of `paths` (absolute) in the image, top layer first; None where
/// absent or unreadable. Used only to resolve `-u NAME`, so whiteouts are not considered.
pub fn read_files(_store: &Store, image: &Image, paths: &[&str]) -> Vec<Option<String>> {
    let mut found: Vec<Option<String>> = vec![None; paths.len()];
    for layer in image.layers.iter().rev() {
        if found.iter().all(Option::is_some) {
            break;
        }
        let contents = read_from_layer(layer, paths);
        for (slot, content) in found.iter_mut().zip(contents) {
            if slot.is_none() {
                *slot = content;
            }
        }
    }
    found
}

fn read_from_layer(layer: &LayerImage, paths: &[&str]) -> Vec<Option<String>> {
    if layer.fstype == "ext4" {
        return paths
            .iter()
            .map(|path| {
                let output = std::process::Command::new("debugfs")
                    .arg("-R")
                    .arg(format!("cat {path}"))
                    .arg(&layer.path)
                    .output()
                    .ok()?;
                (output.status.success() && !output.stdout.is_empty())
                    .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
            })
            .collect();
    }
    // erofs-utils 1.5 has no "cat": extract the layer once to a scratch directory.
    let scratch = std::env::temp_dir().join(format!(
        "hull-extract-{}-{}",
        std::process::id(),
        layer
            .diff_id
            .trim_start_matches("sha256:")
            .get(..12)
            .unwrap_or("x")
    ));
    let _ = std::fs::remove_dir_all(&scratch);
    let extracted = std::process::Command::new("fsck.erofs")
        .arg(format!("--extract={}", scratch.display()))
        .arg(&layer.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let contents = paths
        .iter()
        .map(|path| {
            extracted
                .then(|| std::fs::read(scratch.join(path.trim_start_matches('/'))).ok())
                .flatten()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    contents
}

/// `hull inspect IMAGE` as JSON.
pub fn inspect(store: &Store, reference: &str) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(store.inspect(reference)?)?)
}

/// An indicatif bar on a terminal; silent otherwise.
pub struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl TerminalProgress {
    /// A reporter that draws only when stderr is a terminal.
    pub fn new() -> Self {
        Self {
            bar: Mutex::new(None),
            enabled: std::io::stderr().is_terminal(),
        }
    }
}

impl hull_rootfs::Progress for TerminalProgress {
    fn start(&self, task: &str, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg:30} [{bar:30}] {bytes}/{total_bytes} {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(task.to_string());
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.inc(bytes);
        }
    }

    fn message(&self, message: &str) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.set_message(message.chars().take(60).collect::<String>());
            bar.tick();
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}
