//! What the registry client needs from the store: blobs it already has (a pull skips
//! them), an image's manifest and blobs as stored (a push sends them byte for byte, so
//! the digest does not change), and the `repo@digest` names a registry knows it by.

use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{from_json, IoContext, Result, StoreError};
use crate::oci::{Descriptor, Manifest};
use crate::store::{resolve_id, Store};

/// One stored blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredBlob {
    /// `sha256:...`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// The file in the store (read-only: never write to it).
    pub path: PathBuf,
}

/// An image as the distribution protocol sees it.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// The image id.
    pub id: String,
    /// The manifest's exact bytes.
    pub manifest: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// The config blob.
    pub config: StoredBlob,
    /// Layer blobs as distributed (compressed), bottom first.
    pub layers: Vec<StoredBlob>,
    /// The image's `name:tag` references.
    pub references: Vec<String>,
}

impl Store {
    /// The store's file of blob `digest`, when it has it.
    pub fn blob_file(&self, digest: &str) -> Option<PathBuf> {
        self.blob_path(digest).ok().filter(|path| path.is_file())
    }

    /// The manifest and blobs of the image `reference` names, every blob present.
    pub fn stored_manifest(&self, reference: &str) -> Result<StoredManifest> {
        let index = self.read_index()?;
        let id = resolve_id(&index, reference)?;
        let record = &index.images[&id];
        let path = self.blob_path(&record.manifest_digest)?;
        let manifest_bytes = fs::read(&path).io("read image manifest", &path)?;
        let manifest: Manifest = from_json(
            &manifest_bytes,
            &format!("manifest {}", record.manifest_digest),
        )?;
        let blob = |descriptor: &Descriptor| -> Result<StoredBlob> {
            let path = self.blob_file(&descriptor.digest).ok_or_else(|| {
                StoreError::ConcurrentChange(format!(
                    "blob {} of image {id} is missing from the store; `hull load` or pull the \
                     image again",
                    descriptor.digest
                ))
            })?;
            Ok(StoredBlob {
                digest: descriptor.digest.clone(),
                size: descriptor.size,
                path,
            })
        };
        Ok(StoredManifest {
            config: blob(&manifest.config)?,
            layers: manifest.layers.iter().map(blob).collect::<Result<_>>()?,
            id: id.clone(),
            manifest: manifest_bytes,
            media_type: record.manifest_media_type.clone(),
            references: index.refs_of(&id),
        })
    }

    /// Records that a registry knows image `id` as `repository@digest` (after a pull or a
    /// push): `inspect` lists it under `RepoDigests` and `NAME@DIGEST` finds the image.
    pub fn add_repo_digest(&self, id: &str, repo_digest: &str) -> Result<()> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let Some(record) = index.images.get_mut(id) else {
            return Err(StoreError::ImageNotFound(id.to_owned()));
        };
        if !record.repo_digests.iter().any(|d| d == repo_digest) {
            record.repo_digests.push(repo_digest.to_owned());
            record.repo_digests.sort();
        }
        self.write_index(&index)
    }
}
