//! The store: opening, locking, resolving, listing, tagging, removing, pruning, committing.
//!
//! Layout under the root (default `/var/lib/hull`):
//! ```text
//! lock                     flock: held by writers while they commit (short)
//! index.json               all image records + tags (replaced atomically)
//! blobs/sha256/<hex>       configs, manifests, layer blobs as distributed
//! layers/<hex>.erofs       read-only block image of the layer with diff_id sha256:<hex>
//! tmp/work-*/              private work dirs (staging, downloads); stale ones removed on open
//! templates/               empty writable-layer disks, copied for each new container
//! containers/              owned by the CLI, never touched here
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;

use crate::blockimage::FsType;
use crate::digest::{sha256_hex, SHA256_PREFIX};
use crate::error::{from_json, IoContext, Result, StoreError};
use crate::fsutil::{atomic_write, fsync_dir, install_file, FileLock};
use crate::image::{
    HistoryEntry, Image, ImageInspect, ImageSummary, InspectHull, InspectRootFs, LayerImage,
    PruneReport, Removed,
};
use crate::index::{ImageRecord, Index, INDEX_VERSION};
use crate::reference::{self, id_prefix};
use crate::workdir::WorkDir;

/// Default store root.
pub const DEFAULT_ROOT: &str = "/var/lib/hull";
/// Default cap on a layer's uncompressed size (bomb protection): 8 GiB.
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 8 << 30;

/// Tunables of a store.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Cap on a layer's uncompressed tar size and total file content (env HULL_MAX_LAYER_BYTES).
    pub max_layer_bytes: u64,
    /// Cap on entries per layer.
    pub max_layer_entries: u64,
    /// Filesystem of newly converted layers.
    pub fstype: FsType,
}

impl Default for StoreOptions {
    fn default() -> Self {
        let max_layer_bytes = std::env::var("HULL_MAX_LAYER_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_LAYER_BYTES);
        Self {
            max_layer_bytes,
            max_layer_entries: 2_000_000,
            fstype: FsType::Erofs,
        }
    }
}

/// An open image store. Cheap to open; safe to use from several processes at once.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    pub(crate) options: StoreOptions,
}

/// New image data waiting in a work dir for [`Store::commit`].
pub(crate) struct NewImage {
    pub(crate) record: ImageRecord,
    pub(crate) tags: Vec<String>,
}

impl Store {
    /// The store root from `HULL_ROOT`, else [`DEFAULT_ROOT`].
    pub fn default_root() -> PathBuf {
        std::env::var_os("HULL_ROOT").map_or_else(|| PathBuf::from(DEFAULT_ROOT), PathBuf::from)
    }

    /// Opens (creating if needed) the store at `root` with default options.
    pub fn open(root: &Path) -> Result<Store> {
        Self::open_with(root, StoreOptions::default())
    }

    /// Opens (creating if needed) the store at `root`; removes temporary data left by
    /// processes that died mid-operation.
    pub fn open_with(root: &Path, options: StoreOptions) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
            options,
        };
        for dir in [store.blobs_dir(), store.layers_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).io("create store directory", &dir)?;
        }
        let _lock = store.lock()?;
        WorkDir::remove_stale(&store.tmp_dir())?;
        Ok(store)
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a container's writable disk (ext4 with empty `upper/` and `work/`) of
    /// `size_bytes` at `path`, as a sparse copy of this store's template for that size.
    pub fn new_writable_disk(&self, path: &Path, size_bytes: u64) -> Result<()> {
        crate::blockimage::create_writable_disk_from_template(
            &self.root.join("templates"),
            path,
            size_bytes,
        )
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Path of a stored blob (config, manifest, layer) by digest.
    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest).ok_or_else(|| StoreError::InvalidReference {
            reference: digest.to_owned(),
            reason: "not a sha256 digest",
        })?;
        Ok(self.blobs_dir().join(hex))
    }

    /// Path of the block image of the layer `diff_id`.
    pub(crate) fn layer_path(&self, diff_id: &str, fstype: FsType) -> Result<PathBuf> {
        let hex = sha256_hex(diff_id).ok_or_else(|| StoreError::InvalidReference {
            reference: diff_id.to_owned(),
            reason: "not a sha256 digest",
        })?;
        Ok(self.layers_dir().join(format!("{hex}.{}", fstype.as_str())))
    }

    /// The exclusive store lock (blocks while another hull process commits).
    pub(crate) fn lock(&self) -> Result<FileLock> {
        FileLock::acquire(&self.root.join("lock"))
    }

    /// A fresh private work directory.
    pub(crate) fn work_dir(&self) -> Result<WorkDir> {
        let _lock = self.lock()?;
        WorkDir::create(&self.tmp_dir())
    }

    /// The current index. Needs no lock: `index.json` is only ever replaced atomically.
    pub(crate) fn read_index(&self) -> Result<Index> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => from_json(&bytes, "the store index (index.json)"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                version: INDEX_VERSION,
                ..Index::default()
            }),
            Err(e) => Err(e).io("read", path),
        }
    }

    pub(crate) fn write_index(&self, index: &Index) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| StoreError::Json {
            what: "the store index".into(),
            source,
        })?;
        atomic_write(&self.index_path(), &bytes, &self.tmp_dir())
    }

    /// Finds an image by `name[:tag]`, full id or unambiguous id prefix.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let index = self.read_index()?;
        let id = resolve_id(&index, reference)?;
        self.image_from(&index, &id)
    }

    /// Whether `reference` names a local image (no error for unknown names).
    pub fn exists(&self, reference: &str) -> Result<bool> {
        match self.resolve(reference) {
            Ok(_) => Ok(true),
            Err(StoreError::ImageNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn image_from(&self, index: &Index, id: &str) -> Result<Image> {
        let record = index
            .images
            .get(id)
            .ok_or_else(|| StoreError::ImageNotFound(id.to_owned()))?;
        let config_path = self.blob_path(&record.id)?;
        let config_bytes = fs::read(&config_path).io("read image config", &config_path)?;
        let config: ImageConfiguration =
            from_json(&config_bytes, &format!("image config {}", record.id))?;
        let layers = record
            .layers
            .iter()
            .map(|layer| {
                let path = self.layer_path(&layer.diff_id, layer.fstype)?;
                let size = fs::metadata(&path).io("inspect layer image", &path)?.len();
                Ok(LayerImage {
                    diff_id: layer.diff_id.clone(),
                    path,
                    fstype: layer.fstype.as_str().to_owned(),
                    size,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Image {
            id: record.id.clone(),
            references: index.refs_of(id),
            created: config.created().clone(),
            size: record.layers.iter().map(|l| l.diff_size).sum(),
            layers,
            config,
            manifest_digest: record.manifest_digest.clone(),
            repo_digests: record.repo_digests.clone(),
        })
    }

    /// The image's config as stored (Docker's keys outside the OCI spec included).
    pub fn raw_config(&self, reference: &str) -> Result<serde_json::Value> {
        let index = self.read_index()?;
        let id = resolve_id(&index, reference)?;
        let path = self.blob_path(&id)?;
        let bytes = fs::read(&path).io("read image config", &path)?;
        from_json(&bytes, &format!("image config {id}"))
    }

    /// Every image, one row per reference (dangling images once, as `<none>`), newest first;
    /// untagged intermediate images (a build's steps) only with `intermediates` (`-a`).
    pub fn list(&self, intermediates: bool) -> Result<Vec<ImageSummary>> {
        let index = self.read_index()?;
        let mut rows = Vec::new();
        for record in index.images.values() {
            let created = self.created_of(record);
            let size = record.layers.iter().map(|l| l.diff_size).sum();
            let refs = index.refs_of(&record.id);
            if refs.is_empty() && (intermediates || !index.has_children(&record.id)) {
                rows.push(ImageSummary {
                    repository: "<none>".into(),
                    tag: "<none>".into(),
                    id: record.id.clone(),
                    created: created.clone(),
                    size,
                });
            }
            for r in refs {
                let (name, tag) = reference::split(&r);
                rows.push(ImageSummary {
                    repository: name.to_owned(),
                    tag: tag.to_owned(),
                    id: record.id.clone(),
                    created: created.clone(),
                    size,
                });
            }
        }
        rows.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| a.repository.cmp(&b.repository))
                .then_with(|| a.tag.cmp(&b.tag))
        });
        Ok(rows)
    }

    fn created_of(&self, record: &ImageRecord) -> Option<String> {
        let path = self.blob_path(&record.id).ok()?;
        let bytes = fs::read(path).ok()?;
        #[derive(serde::Deserialize)]
        struct Created {
            created: Option<String>,
        }
        serde_json::from_slice::<Created>(&bytes).ok()?.created
    }

    /// Adds reference `target` to the image `source` resolves to (moving it if it named
    /// another image, like `docker tag`).
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let target = reference::normalize(target)?;
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let id = resolve_id(&index, source)?;
        index.refs.insert(target, id);
        self.write_index(&index)
    }

    /// `docker rmi`: removing a `name:tag` of an image with other names only untags it; the
    /// image goes when its last name does. Refuses an image `in_use` (given the image id)
    /// unless `force`, in which case it is only untagged and stays for its containers.
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Removed>> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let id = resolve_id(&index, reference)?;
        let refs = index.refs_of(&id);
        let by_name = reference::normalize(reference)
            .ok()
            .filter(|r| index.refs.contains_key(r));
        let mut removed = Vec::new();
        match by_name {
            Some(name) if refs.len() > 1 => {
                index.refs.remove(&name);
                removed.push(Removed::Untagged(name));
            }
            _ => {
                if refs.len() > 1 && !force {
                    return Err(StoreError::MultipleReferences {
                        id: id.clone(),
                        refs: refs.join(", "),
                    });
                }
                let used = in_use(&id);
                if used && !force {
                    return Err(StoreError::ImageInUse {
                        reference: reference.to_owned(),
                        id: id.clone(),
                    });
                }
                for name in refs {
                    index.refs.remove(&name);
                    removed.push(Removed::Untagged(name));
                }
                if !used {
                    let parent = index.images.remove(&id).and_then(|r| r.parent);
                    removed.push(Removed::Deleted(id.clone()));
                    remove_orphaned_parents(&mut index, parent, in_use, &mut removed);
                }
            }
        }
        self.write_index(&index)?;
        self.collect_garbage(&index)?;
        Ok(removed)
    }

    /// `docker image prune`: removes dangling images (with `all`, every image) that no
    /// container uses, then unreferenced blobs, block images and stale temporary data.
    pub fn prune(&self, all: bool, in_use: &dyn Fn(&str) -> bool) -> Result<PruneReport> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let mut report = PruneReport::default();
        let ids: Vec<String> = index.images.keys().cloned().collect();
        for id in ids {
            let refs = index.refs_of(&id);
            // Docker's dangling: untagged and no child (a build's steps stay with its image).
            let dangling = refs.is_empty() && !index.has_children(&id);
            if (!dangling && !all) || in_use(&id) || !index.images.contains_key(&id) {
                continue;
            }
            for name in refs {
                index.refs.remove(&name);
                report.removed.push(Removed::Untagged(name));
            }
            let parent = index.images.remove(&id).and_then(|r| r.parent);
            report.removed.push(Removed::Deleted(id));
            remove_orphaned_parents(&mut index, parent, in_use, &mut report.removed);
        }
        self.write_index(&index)?;
        report.reclaimed_bytes = self.collect_garbage(&index)?;
        WorkDir::remove_stale(&self.tmp_dir())?;
        Ok(report)
    }

    /// Deletes blobs and block images no image record references. Call with the lock held.
    /// Returns the bytes freed.
    fn collect_garbage(&self, index: &Index) -> Result<u64> {
        let mut keep_blobs = BTreeSet::new();
        let mut keep_layers = BTreeSet::new();
        for record in index.images.values() {
            keep_blobs.insert(self.blob_path(&record.id)?);
            keep_blobs.insert(self.blob_path(&record.manifest_digest)?);
            for layer in &record.layers {
                keep_blobs.insert(self.blob_path(&layer.blob_digest)?);
                keep_layers.insert(self.layer_path(&layer.diff_id, layer.fstype)?);
            }
        }
        let records: Vec<&[crate::index::LayerRecord]> =
            index.images.values().map(|r| r.layers.as_slice()).collect();
        let keep_squashes: BTreeSet<PathBuf> = self.squashes_in_use(&records).into_iter().collect();
        let mut freed = 0;
        for (dir, keep) in [
            (self.blobs_dir(), keep_blobs),
            (self.layers_dir(), keep_layers),
            (self.squashed_dir(), keep_squashes),
        ] {
            if !dir.exists() {
                continue;
            }
            for entry in fs::read_dir(&dir).io("list", &dir)? {
                let path = entry.io("list", &dir)?.path();
                if !keep.contains(&path) {
                    freed += fs::metadata(&path).map_or(0, |m| m.len());
                    fs::remove_file(&path).io("remove", &path)?;
                }
            }
        }
        Ok(freed)
    }

    /// `docker history`: one row per config history step, newest first.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        let index = self.read_index()?;
        let id = resolve_id(&index, reference)?;
        let image = self.image_from(&index, &id)?;
        let record = &index.images[&id];
        let mut layers = record.layers.iter();
        let mut rows = Vec::new();
        match image.config.history() {
            Some(steps) if !steps.is_empty() => {
                for step in steps {
                    let empty = step.empty_layer().unwrap_or(false);
                    let layer = if empty { None } else { layers.next() };
                    rows.push(HistoryEntry {
                        layer: layer.map_or_else(|| "<missing>".to_owned(), |l| l.diff_id.clone()),
                        created: step.created().clone(),
                        created_by: step.created_by().clone().unwrap_or_default(),
                        size: layer.map_or(0, |l| l.diff_size),
                        comment: step.comment().clone().unwrap_or_default(),
                        empty_layer: empty,
                    });
                }
            }
            _ => {
                for layer in layers {
                    rows.push(HistoryEntry {
                        layer: layer.diff_id.clone(),
                        created: image.created.clone(),
                        created_by: String::new(),
                        size: layer.diff_size,
                        comment: String::new(),
                        empty_layer: false,
                    });
                }
            }
        }
        rows.reverse();
        Ok(rows)
    }

    /// `docker image inspect`.
    pub fn inspect(&self, reference: &str) -> Result<ImageInspect> {
        let image = self.resolve(reference)?;
        let config = &image.config;
        Ok(ImageInspect {
            id: image.id.clone(),
            repo_tags: image.references.clone(),
            repo_digests: image.repo_digests.clone(),
            created: image.created.clone(),
            author: config.author().clone().unwrap_or_default(),
            config: config.config().clone(),
            architecture: config.architecture().to_string(),
            os: config.os().to_string(),
            size: image.size,
            root_fs: InspectRootFs {
                r#type: "layers".into(),
                layers: image.layers.iter().map(|l| l.diff_id.clone()).collect(),
            },
            hull: InspectHull {
                manifest_digest: image.manifest_digest.clone(),
                layer_images: image.layers,
            },
        })
    }

    /// Whether the block image of `diff_id` is already in the store.
    pub(crate) fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_path(diff_id, self.options.fstype)
            .is_ok_and(|p| p.exists())
    }

    /// Publishes what a load or bootstrap prepared in `work` (`blobs/<hex>`, `layers/<file>`)
    /// plus the image records and tags, atomically: files first (invisible until referenced),
    /// then one rename of `index.json`. A kill at any point leaves either the old index or the
    /// new one; unreferenced files are removed by the next prune.
    pub(crate) fn commit(&self, work: &WorkDir, images: Vec<NewImage>) -> Result<Vec<Image>> {
        let _lock = self.lock()?;
        for (from_dir, to_dir) in [
            (work.path().join("blobs"), self.blobs_dir()),
            (work.path().join("layers"), self.layers_dir()),
        ] {
            if !from_dir.exists() {
                continue;
            }
            for entry in fs::read_dir(&from_dir).io("list", &from_dir)? {
                let entry = entry.io("list", &from_dir)?;
                install_file(&entry.path(), &to_dir.join(entry.file_name()))?;
            }
            fsync_dir(&to_dir)?;
        }
        let mut index = self.read_index()?;
        index.version = INDEX_VERSION;
        for image in &images {
            // Layers reused from the store may have been pruned since we checked: verify
            // under the lock so no record ever points at a missing file.
            for layer in &image.record.layers {
                let path = self.layer_path(&layer.diff_id, layer.fstype)?;
                let blob = self.blob_path(&layer.blob_digest)?;
                if !path.exists() || !blob.exists() {
                    return Err(StoreError::ConcurrentChange(format!(
                        "layer {} vanished during the operation",
                        layer.diff_id
                    )));
                }
            }
            let mut record = image.record.clone();
            if let Some(previous) = index.images.get(&record.id) {
                // The same image again (a pull of what is here): registries still know it.
                record.repo_digests = previous.repo_digests.clone();
            }
            index.images.insert(record.id.clone(), record);
            for tag in &image.tags {
                index.refs.insert(tag.clone(), image.record.id.clone());
            }
        }
        self.write_index(&index)?;
        images
            .iter()
            .map(|i| self.image_from(&index, &i.record.id))
            .collect()
    }
}

/// The image id `reference` names: a reference first, then a full id or id prefix.
/// Docker's rmi of a built image: its untagged parents go with it, up the chain, while
/// nothing else (another child, a tag, a container) keeps them.
fn remove_orphaned_parents(
    index: &mut Index,
    mut parent: Option<String>,
    in_use: &dyn Fn(&str) -> bool,
    removed: &mut Vec<Removed>,
) {
    while let Some(id) = parent.take() {
        let orphan = index.images.contains_key(&id)
            && index.refs_of(&id).is_empty()
            && !index.has_children(&id)
            && !in_use(&id);
        if !orphan {
            return;
        }
        parent = index.images.remove(&id).and_then(|r| r.parent);
        removed.push(Removed::Deleted(id));
    }
}

pub(crate) fn resolve_id(index: &Index, reference: &str) -> Result<String> {
    if let Some((_, digest)) = reference.split_once('@') {
        // NAME@sha256:...: the image whose manifest has that digest (as Docker, the name
        // only says where it came from).
        return index
            .images
            .values()
            .find(|record| record.manifest_digest == digest)
            .map(|record| record.id.clone())
            .ok_or_else(|| StoreError::ImageNotFound(reference.to_owned()));
    }
    if let Ok(name) = reference::normalize(reference) {
        if let Some(id) = index.refs.get(&name) {
            return Ok(id.clone());
        }
    }
    if let Some(prefix) = id_prefix(reference) {
        let full = format!("{SHA256_PREFIX}{prefix}");
        let matches: Vec<&String> = index
            .images
            .keys()
            .filter(|id| id.starts_with(&full))
            .collect();
        match matches.len() {
            0 => {}
            1 => return Ok(matches[0].clone()),
            count => {
                return Err(StoreError::AmbiguousReference {
                    reference: reference.to_owned(),
                    count,
                })
            }
        }
    }
    Err(StoreError::ImageNotFound(reference.to_owned()))
}
