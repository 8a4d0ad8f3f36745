//! The data the store hands out: images, layers, listing rows, history, inspect output.
//! Everything is `Serialize` so the CLI's `--format json` is one `serde_json` call.

use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use serde::Serialize;

/// A local image, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// `sha256:<hex>` of the image config (Docker's image id).
    pub id: String,
    /// Its `name:tag` references, sorted (empty for a dangling image).
    pub references: Vec<String>,
    /// When the image was built (config `created`), RFC 3339.
    pub created: Option<String>,
    /// Uncompressed size of all layers (what `docker images` calls SIZE).
    pub size: u64,
    /// Read-only layer block images, bottom first: disk `hull-layer-N` is `layers[N]`.
    pub layers: Vec<LayerImage>,
    /// The OCI image config (entrypoint, cmd, env, working dir, user, ...).
    pub config: ImageConfiguration,
    /// `sha256:` of the image manifest.
    pub manifest_digest: String,
    /// `repository@sha256:...` names registries know it by (pulls and pushes).
    pub repo_digests: Vec<String>,
}

/// One read-only layer as a block image, shared by every image and container using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerImage {
    /// `sha256:` of the uncompressed layer tar.
    pub diff_id: String,
    /// The block image (open it read-only).
    pub path: PathBuf,
    /// `"erofs"` or `"ext4"`.
    pub fstype: String,
    /// Size of the block image file in bytes.
    pub size: u64,
}

/// One row of `hull images` (one per reference; dangling images get `<none>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// Name, or `<none>`.
    pub repository: String,
    /// Tag, or `<none>`.
    pub tag: String,
    /// Full image id (`sha256:...`); show the first 12 hex digits like Docker.
    pub id: String,
    /// Config `created`, RFC 3339.
    pub created: Option<String>,
    /// Uncompressed size in bytes.
    pub size: u64,
}

impl ImageSummary {
    /// The 12-hex-digit id Docker prints.
    pub fn short_id(&self) -> &str {
        short_id(&self.id)
    }
}

/// The 12-hex-digit form of an image id.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix(crate::digest::SHA256_PREFIX).unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// One row of `hull history`, newest first like Docker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The layer's diff id, or `<missing>` for rows without a layer.
    pub layer: String,
    /// RFC 3339.
    pub created: Option<String>,
    /// The command that made this step.
    pub created_by: String,
    /// Uncompressed size of the layer (0 for rows without a layer).
    pub size: u64,
    /// Free text.
    pub comment: String,
    /// Whether this step made no layer (ENV, CMD, ...).
    pub empty_layer: bool,
}

/// What `remove` did, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Removed {
    /// A reference was removed (`Untagged: busybox:latest`).
    Untagged(String),
    /// The image itself was deleted (`Deleted: sha256:...`).
    Deleted(String),
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// References and images removed.
    pub removed: Vec<Removed>,
    /// Bytes freed on disk (blobs, block images, stale temporary data).
    pub reclaimed_bytes: u64,
}

/// `hull inspect IMAGE`: Docker's shape where it applies, plus hull's layer images.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// Image id.
    pub id: String,
    /// References.
    pub repo_tags: Vec<String>,
    /// `repository@sha256:...` names from pulls and pushes.
    pub repo_digests: Vec<String>,
    /// RFC 3339.
    pub created: Option<String>,
    /// Config author.
    pub author: String,
    /// Runtime config (Cmd, Entrypoint, Env, ...).
    pub config: Option<oci_spec::image::Config>,
    /// e.g. amd64.
    pub architecture: String,
    /// e.g. linux.
    pub os: String,
    /// Uncompressed size.
    pub size: u64,
    /// Layer diff ids.
    #[serde(rename = "RootFS")]
    pub root_fs: InspectRootFs,
    /// hull specifics: manifest digest and layer block images.
    pub hull: InspectHull,
}

/// Docker's `RootFS`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectRootFs {
    /// Always "layers".
    pub r#type: String,
    /// Diff ids, bottom first.
    pub layers: Vec<String>,
}

/// hull's additions to inspect output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectHull {
    /// `sha256:` of the manifest.
    pub manifest_digest: String,
    /// The read-only block images, bottom first.
    pub layer_images: Vec<LayerImage>,
}
