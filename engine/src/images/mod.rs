//! Images: the image store (hull-rootfs) as the engine's use cases (resolve with Docker's
//! implicit "pull", here the bootstrap of the offline base images; list, load, save, tag,
//! remove, history, prune, inspect), and the few image facts a container needs.

mod arrivals;
mod downloads;
mod filter;
mod pull;
mod registry;

pub use filter::ImageFilter;
pub use hull_registry::TransferEvent;
pub use pull::{PullStatus, Pulled};
pub use registry::{is_offline_base, Credential, PullPolicy, Pushed, RegistryError};

use crate::container::ContainerStore;
use crate::error::{Error, Result};
use anyhow::Context;
use std::path::Path;

pub use hull_rootfs::{
    short_id, HistoryEntry, Image, ImageSummary, LayerImage, PruneReport, Removed, Store,
};

/// What a front-end hears while the engine works on images: progress of long tasks and the
/// notice that an image is not stored yet (before a base image is made).
pub trait ImageProgress: hull_rootfs::Progress {
    /// `reference` is not in the store: the engine is about to make it.
    fn missing_locally(&self, _reference: &str) {}
    /// One of Docker's pull or push text lines (`latest: Pulling from library/busybox`,
    /// `Digest: ...`, `Status: ...`, `The push refers to repository [...]`).
    fn pull_status(&self, _line: &str) {}
    /// A blob of a pull or push changed state (`blob` is its 12-digit short digest).
    fn transfer(&self, _blob: &str, _event: &TransferEvent) {}
}

impl ImageProgress for () {}

/// The image use cases over the store under one root.
pub struct Images {
    store: Store,
    root: std::path::PathBuf,
}

impl Images {
    /// The image store under `root` (created on first use).
    pub fn open(root: &Path) -> Result<Self> {
        let store = Store::open(root).with_context(|| {
            format!(
                "cannot open the image store at {}: run as root or set --root/HULL_ROOT",
                root.display()
            )
        })?;
        Ok(Self {
            store,
            root: root.to_path_buf(),
        })
    }

    /// The underlying store (for the container use cases).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `reference`, pulled when missing (the offline base images busybox, debian:bookworm
    /// and scratch are made instead), the way `docker run` finds its image.
    pub fn resolve(&self, reference: &str, progress: &dyn ImageProgress) -> Result<Image> {
        self.resolve_with(reference, PullPolicy::Missing, progress)
    }

    /// Every tagged (and dangling) image, as `hull images` lists them.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        Ok(self.store.list(false)?)
    }

    /// The `images` rows that pass `filter`, in [`Self::list`]'s order; a build's
    /// intermediate images too with `all` (`images -a`).
    pub fn list_matching(&self, filter: &ImageFilter, all: bool) -> Result<Vec<ImageSummary>> {
        let rows = self.store.list(all)?;
        let mut images: std::collections::HashMap<String, Image> = Default::default();
        for row in &rows {
            if !images.contains_key(&row.id) {
                images.insert(row.id.clone(), self.store.resolve(&row.id)?);
            }
        }
        let mut bounds = std::collections::HashMap::new();
        for (_, reference) in filter.bounds() {
            let created = self.store.resolve(reference)?.created;
            bounds.insert(reference.to_string(), created);
        }
        let bound_created = |reference: &str| bounds.get(reference).cloned().flatten();
        Ok(rows
            .iter()
            .filter(|row| {
                let candidate = filter::Candidate {
                    row,
                    image: &images[&row.id],
                };
                filter.matches(&candidate, &bound_created)
            })
            .cloned()
            .collect())
    }

    /// Loads a `docker save` or OCI layout archive; the images it held.
    pub fn load(&self, archive: &Path, progress: &dyn hull_rootfs::Progress) -> Result<Vec<Image>> {
        let loaded = self.store.load(archive, progress)?;
        for image in &loaded {
            let name = image.references.first().cloned().unwrap_or_default();
            self.record_event("load", &image.id, &name);
        }
        Ok(loaded)
    }

    /// Writes `references` to a `docker save` archive at `output`.
    pub fn save(&self, references: &[&str], output: &Path) -> Result<()> {
        Ok(self.store.save(references, output)?)
    }

    /// Writes `references` as a `docker save` archive to `writer` (a pipe, `hull save > f`).
    pub fn save_to_writer(
        &self,
        references: &[&str],
        writer: &mut dyn std::io::Write,
    ) -> Result<()> {
        Ok(self.store.save_to_writer(references, writer)?)
    }

    /// Tags `source` as `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        self.store.tag(source, target)?;
        if let Ok(image) = self.store.resolve(target) {
            self.record_event("tag", &image.id, target);
        }
        Ok(())
    }

    /// Removes `reference` (untags it; deletes the image with its last tag). An image a
    /// container uses is kept unless `force` (which only untags it).
    pub fn remove(&self, reference: &str, force: bool) -> Result<Vec<Removed>> {
        let in_use = self.in_use_checker()?;
        let id = self.store.resolve(reference).map(|image| image.id).ok();
        let removed = self.store.remove(reference, force, &in_use)?;
        for change in &removed {
            match change {
                Removed::Untagged(name) => {
                    self.record_event("untag", id.as_deref().unwrap_or_default(), name);
                }
                Removed::Deleted(deleted) => self.record_event("delete", deleted, deleted),
            }
        }
        Ok(removed)
    }

    /// Records image event `action` in the journal `hull events` reads.
    fn record_event(&self, action: &str, id: &str, name: &str) {
        crate::system::events::EventLog::in_root(&self.root)
            .record(&crate::system::events::Event::image(action, id, name));
    }

    /// Removes dangling images (every unused one with `all`).
    pub fn prune(&self, all: bool) -> Result<PruneReport> {
        let in_use = self.in_use_checker()?;
        Ok(self.store.prune(all, &in_use)?)
    }

    /// The image's layers and the commands that made them, newest first.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        Ok(self.store.history(reference)?)
    }

    /// `hull inspect IMAGE` as JSON.
    pub fn inspect(&self, reference: &str) -> Result<serde_json::Value> {
        let inspected = self.store.inspect(reference)?;
        Ok(serde_json::to_value(inspected).context("cannot encode the image as JSON")?)
    }

    /// Makes the offline base image `name` (busybox, debian:bookworm, scratch).
    pub fn bootstrap(&self, name: &str, progress: &dyn hull_rootfs::Progress) -> Result<Image> {
        self.store
            .ensure_base_image(name, progress)?
            .ok_or_else(|| Error::NotABaseImage(name.to_string()))
    }

    /// True if a container (any state) uses image `id`: such images are kept.
    fn in_use_checker(&self) -> Result<impl Fn(&str) -> bool> {
        let containers = ContainerStore::open(&self.root)?.list()?;
        Ok(move |id: &str| containers.iter().any(|c| c.image_id == id))
    }
}

/// An [`ImageProgress`] seen as the store's plain progress reporter.
struct ProgressOf<'a>(&'a dyn ImageProgress);

impl hull_rootfs::Progress for ProgressOf<'_> {
    fn start(&self, task: &str, total: Option<u64>) {
        self.0.start(task, total);
    }
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }
    fn message(&self, message: &str) {
        self.0.message(message);
    }
    fn finish(&self) {
        self.0.finish();
    }
}

/// The image's runtime config (Entrypoint, Cmd, Env, WorkingDir, User).
pub fn runtime_config(image: &Image) -> oci_spec::image::Config {
    image.config.config().clone().unwrap_or_default()
}

/// The image's layer disks, bottom first.
pub fn layers(store: &Store, image: &Image, max_disks: usize) -> Result<Vec<LayerImage>> {
    Ok(store.bootable_layers(image, max_disks)?)
}

/// The image's id (`sha256:...`).
pub fn image_id(image: &Image) -> String {
    image.id.clone()
}

/// A new sparse ext4 writable layer at `path`.
pub fn create_writable_disk(store: &Store, path: &Path, size: u64) -> anyhow::Result<()> {
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
