//! Turns one layer tarball straight into an erofs image, without unpacking it anywhere:
//! file content streams from the tar into the image (`hull-erofs`), the tree is kept in
//! memory. Same rules and results as `apply` + mkfs.erofs (see `apply` for the safety
//! rules); the host never sees a file of the layer, so nothing needs root and nothing can be
//! created through a symlink: names only ever resolve inside the tree being built.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use hull_erofs::{DeviceKind, FinishOptions, ImageBuilder, Metadata, NodeId};
use tar::EntryType;

use crate::blockimage::{uuid_bytes_from_hex, EROFS_BUILD_TIME};
use crate::error::{IoContext, Result, StoreError};
use crate::layer_entry::{
    clean_path, ApplyLimits, ApplyStats, EntryHead, LayerContext, Meta, Whiteout,
    OVERLAY_OPAQUE_XATTR,
};

/// Reads the tar stream `reader` into an erofs image at `out` (created; must not exist):
/// file content is written as it arrives, the rest by [`PendingImage::finish`] once the
/// caller has the layer's diff id (the image's UUID). Returns the reader (so the caller can
/// drain and hash the rest). On error `out` may hold a partial image for the caller to
/// remove.
pub(crate) fn build_erofs_layer<R: Read>(
    reader: R,
    out: &Path,
    layer: &str,
    limits: ApplyLimits,
) -> Result<(R, PendingImage)> {
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(out)
        .io("create", out)?;
    let mut layer_image = LayerImage {
        cx: LayerContext { layer, limits },
        image: ImageBuilder::new(file, root_meta()),
        stats: ApplyStats::default(),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| layer_image.cx.stream_error(e))?;
    for entry in entries {
        let entry = entry.map_err(|e| layer_image.cx.stream_error(e))?;
        layer_image.add_entry(entry)?;
    }
    let pending = PendingImage {
        image: layer_image.image,
        layer: layer.to_owned(),
    };
    Ok((archive.into_inner(), pending))
}

/// An image whose file data is written; its directories, inodes and superblock are not.
pub(crate) struct PendingImage {
    image: ImageBuilder,
    layer: String,
}

impl PendingImage {
    /// Writes the rest of the image at `out` (where [`build_erofs_layer`] started it), its
    /// UUID from `uuid_seed` (hex, the diff id), and syncs it.
    pub(crate) fn finish(self, out: &Path, uuid_seed: &str) -> Result<()> {
        let file = self.image.file().try_clone().io("open", out)?;
        self.image
            .finish(&FinishOptions {
                uuid: uuid_bytes_from_hex(uuid_seed),
                build_time: EROFS_BUILD_TIME,
            })
            .map_err(|e| image_error(e, &self.layer, out))?;
        file.sync_all().io("sync", out)
    }
}

/// The root's metadata when the layer has no `./` entry (fixed, for reproducible images),
/// and that of parents the layer never names.
fn root_meta() -> Metadata {
    Metadata {
        permissions: 0o755,
        ..Metadata::default()
    }
}

fn image_error(e: hull_erofs::Error, layer: &str, out: &Path) -> StoreError {
    match e {
        hull_erofs::Error::Write(source) | hull_erofs::Error::Read(source) => StoreError::Io {
            action: "write",
            path: out.to_owned(),
            source,
        },
        other => StoreError::UnsafeLayerEntry {
            layer: layer.to_owned(),
            entry: String::new(),
            reason: other.to_string(),
        },
    }
}

struct LayerImage<'a> {
    cx: LayerContext<'a>,
    image: ImageBuilder,
    stats: ApplyStats,
}

impl LayerImage<'_> {
    fn add_entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        self.stats.entries += 1;
        let Some(EntryHead {
            raw,
            rel,
            kind,
            meta,
        }) = self.cx.entry_head(&mut entry, self.stats.entries)?
        else {
            return Ok(());
        };
        let parent = self.parent_dir(&rel, &raw)?;
        let Some(name) = rel.file_name().map(OsStr::as_bytes) else {
            // The layer root.
            if kind != EntryType::Directory {
                return Err(self.cx.reject(&raw, "the layer root must be a directory"));
            }
            self.set_dir_meta(parent, meta);
            return Ok(());
        };

        match self.cx.whiteout(name, &raw)? {
            Some(Whiteout::Opaque) => {
                let meta = self.image.metadata_mut(parent);
                set_xattr(meta, OVERLAY_OPAQUE_XATTR.as_bytes(), b"y");
                return Ok(());
            }
            Some(Whiteout::Hides(hidden)) => {
                // An overlayfs whiteout: a 0/0 character device, owned by root, mode 0.
                let whiteout =
                    self.image
                        .add_device(Metadata::default(), DeviceKind::Character, 0, 0);
                return self.link(parent, hidden, whiteout, &raw);
            }
            Some(Whiteout::Ignored) => return Ok(()),
            None => {}
        }

        let node = match kind {
            EntryType::Directory => {
                match self.image.lookup(parent, name) {
                    // An existing directory is kept (its children stay).
                    Some(dir) if self.image.is_directory(dir) => {
                        self.set_dir_meta(dir, meta);
                        return Ok(());
                    }
                    _ => self.image.add_directory(self.metadata(meta, false)),
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.add_file(&mut entry, meta, &raw)?
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.cx.reject(&raw, "symlink without a target"))?;
                let meta = self.metadata(meta, true);
                self.image
                    .add_symlink(meta, &target)
                    .map_err(|e| self.cx.reject(&raw, e.to_string()))?
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.cx.stream_error(e))?
                    .ok_or_else(|| self.cx.reject(&raw, "hard link without a target"))?
                    .into_owned();
                self.hard_link_target(&target, &raw)?
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                let device = match kind {
                    EntryType::Char => DeviceKind::Character,
                    EntryType::Block => DeviceKind::Block,
                    _ => DeviceKind::Fifo,
                };
                let meta = self.metadata(meta, false);
                self.image.add_device(meta, device, major, minor)
            }
            other => {
                return Err(self
                    .cx
                    .reject(&raw, format!("unsupported tar entry type {other:?}")));
            }
        };
        self.link(parent, name, node, &raw)
    }

    /// Sets an existing directory's metadata from a later entry for it; an opaque marker
    /// seen before stays (the host path keeps it the same way).
    fn set_dir_meta(&mut self, dir: NodeId, meta: Meta) {
        let mut new = self.metadata(meta, false);
        let opaque = OVERLAY_OPAQUE_XATTR.as_bytes();
        let current = self.image.metadata_mut(dir);
        if let Some((_, value)) = current.xattrs.iter().find(|(name, _)| name == opaque) {
            set_xattr(&mut new, opaque, &value.clone());
        }
        *current = new;
    }

    fn link(&mut self, dir: NodeId, name: &[u8], node: NodeId, raw: &Path) -> Result<()> {
        self.image
            .link(dir, name, node)
            .map(drop)
            .map_err(|e| self.cx.reject(raw, e.to_string()))
    }

    /// Streams a regular file's content into the image, within the layer's byte budget.
    fn add_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        meta: Meta,
        raw: &Path,
    ) -> Result<NodeId> {
        let size = entry.size();
        self.cx.check_budget(self.stats.content_bytes, size)?;
        let meta = self.metadata(meta, false);
        let (node, written) = self
            .image
            .add_file(meta, entry.take(size.saturating_add(1)))
            .map_err(|e| match e {
                hull_erofs::Error::Read(e) => self.cx.stream_error(e),
                other => image_error(other, self.cx.layer, Path::new("the layer image")),
            })?;
        if written > size {
            return Err(self.cx.reject(raw, "content longer than its header says"));
        }
        self.stats.content_bytes += written;
        Ok(node)
    }

    /// The directory that will hold `rel`, creating missing parents (mode 0755, root-owned);
    /// a symlink or non-directory on the way is refused, never followed.
    fn parent_dir(&mut self, rel: &Path, raw: &Path) -> Result<NodeId> {
        let mut dir = self.image.root();
        let Some(parent) = rel.parent() else {
            return Ok(dir);
        };
        for component in parent.components() {
            let Component::Normal(name) = component else {
                continue;
            };
            let name = name.as_bytes();
            dir = match self.image.lookup(dir, name) {
                Some(child) if self.image.is_directory(child) => child,
                Some(child) if self.image.is_symlink(child) => {
                    return Err(self.cx.reject(
                        raw,
                        "a parent is a symlink; hull never writes through symlinks",
                    ))
                }
                Some(_) => return Err(self.cx.reject(raw, "a parent is not a directory")),
                None => {
                    let child = self.image.add_directory(root_meta());
                    self.link(dir, name, child, raw)?;
                    child
                }
            };
        }
        Ok(dir)
    }

    /// The file a hard link names: earlier in this layer, not a directory, not reached
    /// through a symlink.
    fn hard_link_target(&self, target: &Path, raw: &Path) -> Result<NodeId> {
        let rel = clean_path(target)
            .map_err(|reason| self.cx.reject(raw, format!("hard link target: {reason}")))?;
        let mut node = self.image.root();
        let mut components = rel.components().peekable();
        if components.peek().is_none() {
            return Err(self.cx.reject(raw, "hard link to the layer root"));
        }
        for component in components {
            if !self.image.is_directory(node) {
                return Err(self.cx.reject(
                    raw,
                    "hard link target goes through a symlink or non-directory",
                ));
            }
            node = self
                .image
                .lookup(node, component.as_os_str().as_bytes())
                .ok_or_else(|| {
                    self.cx.reject(
                        raw,
                        format!("hard link target {rel:?} is not in this layer"),
                    )
                })?;
        }
        if self.image.is_directory(node) {
            return Err(self.cx.reject(raw, "hard link to a directory"));
        }
        Ok(node)
    }

    /// The image metadata of an entry: xattrs erofs cannot store are dropped with a warning
    /// (as are `user.*` ones on symlinks, which Linux forbids).
    fn metadata(&self, meta: Meta, is_symlink: bool) -> Metadata {
        let xattrs = meta
            .xattrs
            .into_iter()
            .filter(|(name, value)| {
                if is_symlink && name.starts_with("user.") {
                    return false;
                }
                let storable = hull_erofs::is_storable_xattr(name.as_bytes(), value);
                if !storable {
                    tracing::warn!(layer = self.cx.layer, xattr = %name, "dropping an xattr erofs cannot store");
                }
                storable
            })
            .map(|(name, value)| (name.into_bytes(), value))
            .collect();
        Metadata {
            permissions: u16::try_from(meta.mode & 0o7777).unwrap_or(0),
            uid: meta.uid,
            gid: meta.gid,
            mtime: meta.mtime.tv_sec,
            mtime_nsec: u32::try_from(meta.mtime.tv_nsec).unwrap_or(0),
            xattrs,
        }
    }
}

/// Sets `name` to `value` in `meta`'s xattrs, replacing an earlier value.
fn set_xattr(meta: &mut Metadata, name: &[u8], value: &[u8]) {
    meta.xattrs.retain(|(n, _)| n != name);
    meta.xattrs.push((name.to_vec(), value.to_vec()));
}
