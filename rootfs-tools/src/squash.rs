//! Images with more layers than a VM has disk slots for (QEMU's microvm has 8 virtio-mmio
//! transports; a built image gets a layer per RUN and COPY): the top layers are squashed
//! into one block image, the layers below stay as they are. The squash applies the stored
//! layer tars in order into one directory, with the same checks as any layer; its
//! whiteouts and opaque directories still hide what the layers below hold, as overlayfs
//! stacks them. It is cached under `squashed/`, named by the layers it holds, and
//! collected with the images that need it.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::apply::{apply_layer_over, ApplyLimits};
use crate::blockimage::build_layer_image;
use crate::error::{IoContext, Result};
use crate::fsutil::{remove_any, unique_path};
use crate::image::{Image, LayerImage};
use crate::index::LayerRecord;
use crate::store::Store;

impl Store {
    /// `image`'s layers as at most `max_disks` block images: when there are more, the
    /// bottom `max_disks - 1` stay as they are and the ones above are squashed into one.
    /// The top is squashed, not the bottom: a build adds small layers on a big base, and
    /// each of its steps squashes only those.
    pub fn bootable_layers(&self, image: &Image, max_disks: usize) -> Result<Vec<LayerImage>> {
        let max_disks = max_disks.max(2);
        if image.layers.len() <= max_disks {
            return Ok(image.layers.clone());
        }
        let kept = max_disks - 1;
        let index = self.read_index()?;
        let record = index
            .images
            .get(&image.id)
            .ok_or_else(|| crate::error::StoreError::ImageNotFound(image.id.clone()))?;
        let top = &record.layers[kept..];
        let path = self.squash_path(top);
        if !path.exists() {
            self.squash(top, &path)?;
        }
        let size = fs::metadata(&path).io("inspect", &path)?.len();
        let mut layers: Vec<LayerImage> = image.layers[..kept].to_vec();
        layers.push(LayerImage {
            diff_id: squash_name(top),
            path,
            fstype: self.options.fstype.as_str().to_owned(),
            size,
        });
        Ok(layers)
    }

    pub(crate) fn squashed_dir(&self) -> PathBuf {
        self.root().join("squashed")
    }

    fn squash_path(&self, layers: &[LayerRecord]) -> PathBuf {
        let name = squash_name(layers);
        let hex = name.trim_start_matches("squash:");
        self.squashed_dir()
            .join(format!("{hex}.{}", self.options.fstype.as_str()))
    }

    /// The squash files some image of `index` may use (every run of its top layers).
    pub(crate) fn squashes_in_use(&self, records: &[&[LayerRecord]]) -> Vec<PathBuf> {
        let mut keep = Vec::new();
        for layers in records {
            for start in 1..layers.len().saturating_sub(1) {
                keep.push(self.squash_path(&layers[start..]));
            }
        }
        keep
    }

    fn squash(&self, layers: &[LayerRecord], out: &std::path::Path) -> Result<()> {
        let work = self.work_dir()?;
        let staging = unique_path(work.path(), "squash");
        fs::create_dir(&staging).io("create", &staging)?;
        let limits = ApplyLimits {
            max_bytes: self.options.max_layer_bytes,
            max_entries: self.options.max_layer_entries,
        };
        for layer in layers {
            let blob = self.blob_path(&layer.blob_digest)?;
            let file = fs::File::open(&blob).io("open", &blob)?;
            let mut buffered = BufReader::with_capacity(1 << 20, file);
            let head = buffered.fill_buf().io("read", &blob)?;
            let decoder: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
            } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                Box::new(zstd::Decoder::with_buffer(buffered).io("decode zstd", &blob)?)
            } else {
                Box::new(buffered)
            };
            apply_layer_over(decoder, &staging, &layer.diff_id, limits)?;
        }
        let name = squash_name(layers);
        let hex = name.trim_start_matches("squash:");
        let tmp = unique_path(work.path(), "image");
        build_layer_image(&work, self.options.fstype, &staging, &tmp, hex)?;
        let dir = self.squashed_dir();
        fs::create_dir_all(&dir).io("create", &dir)?;
        fs::rename(&tmp, out).io("rename", out)?;
        remove_any(&staging)?;
        Ok(())
    }
}

/// `squash:<sha256 of the diff ids>`: what a squash holds.
fn squash_name(layers: &[LayerRecord]) -> String {
    let mut hash = Sha256::new();
    for layer in layers {
        hash.update(layer.diff_id.as_bytes());
        hash.update(b"\n");
    }
    format!("squash:{:x}", hash.finalize())
}
