//! The store's single metadata document, `index.json`: every image record and every tag.
//! Keeping both in one file makes each commit one atomic rename: an image and its tags
//! appear together or not at all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::blockimage::FsType;

/// Current `index.json` format version.
pub(crate) const INDEX_VERSION: u32 = 1;

/// `index.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    pub(crate) version: u32,
    /// Image id (`sha256:` of the config) -> record.
    pub(crate) images: BTreeMap<String, ImageRecord>,
    /// Normalised `name:tag` -> image id.
    pub(crate) refs: BTreeMap<String, String>,
}

impl Index {
    /// The references that point at `id`, sorted.
    pub(crate) fn refs_of(&self, id: &str) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, target)| target.as_str() == id)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// One image: what its manifest and layers are, and what hull made of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub(crate) id: String,
    pub(crate) manifest_digest: String,
    pub(crate) manifest_media_type: String,
    pub(crate) config_size: u64,
    pub(crate) layers: Vec<LayerRecord>,
    /// When this store got the image (RFC 3339).
    pub(crate) added: String,
    /// The image this one was committed or built on (Docker's `Parent`; None for images
    /// loaded or pulled): `images` hides an untagged parent and `image prune` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<String>,
    /// `repository@sha256:...` names registries know this image by (pulls and pushes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) repo_digests: Vec<String>,
}

impl Index {
    /// Whether some image names `id` as its parent (Docker: an image with children is an
    /// intermediate one, not dangling).
    pub(crate) fn has_children(&self, id: &str) -> bool {
        self.images
            .values()
            .any(|record| record.parent.as_deref() == Some(id))
    }
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    /// Digest of the blob as distributed (possibly compressed).
    pub(crate) blob_digest: String,
    pub(crate) blob_media_type: String,
    pub(crate) blob_size: u64,
    /// Digest of the uncompressed tar; names the block image.
    pub(crate) diff_id: String,
    /// Size of the uncompressed tar.
    pub(crate) diff_size: u64,
    pub(crate) fstype: FsType,
}
