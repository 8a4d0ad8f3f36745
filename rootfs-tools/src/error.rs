//! The store's one error type: every message says what went wrong and what to do next.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What we were doing ("read", "create", "rename", ...).
        action: &'static str,
        /// The file it failed on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Store metadata (index, records, configs, manifests) is not valid JSON of the right shape.
    #[error("invalid JSON in {what}")]
    Json {
        /// Which document.
        what: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The reference names no local image.
    #[error(
        "no such image: {0}; `hull images` lists local images, `hull load -i FILE` imports one, \
         `hull image bootstrap busybox|debian:bookworm|scratch` builds a base image"
    )]
    ImageNotFound(String),
    /// An id prefix matches more than one image.
    #[error("image reference {reference:?} matches {count} images; give more of the id")]
    AmbiguousReference {
        /// The prefix given.
        reference: String,
        /// How many images it matched.
        count: usize,
    },
    /// The reference is not NAME[:TAG], an image id or an id prefix.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference given.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A layer tarball tried something hull never does (escape, write through a link, ...).
    #[error("layer {layer}: entry {entry:?} rejected: {reason}; nothing was stored")]
    UnsafeLayerEntry {
        /// The layer (its digest or archive member).
        layer: String,
        /// The tar entry's path.
        entry: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The layer expands beyond the configured limit (decompression bomb protection).
    #[error(
        "layer {layer} expands beyond the limit of {limit} bytes (a decompression bomb?); \
         nothing was stored. If the image is genuine, raise HULL_MAX_LAYER_BYTES"
    )]
    LayerTooLarge {
        /// The layer (its digest or archive member).
        layer: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A blob's content does not hash to the digest that names it.
    #[error(
        "digest mismatch for {what}: expected {expected}, got {actual}; the archive is corrupt \
         or was modified, nothing was stored"
    )]
    DigestMismatch {
        /// Which blob.
        what: String,
        /// The digest the archive promised.
        expected: String,
        /// The digest of the bytes actually read.
        actual: String,
    },
    /// A blob cannot be decoded (truncated gzip, bad zstd frame, broken tar header, ...).
    #[error("{what} is corrupt or truncated; nothing was stored")]
    Corrupt {
        /// Which blob.
        what: String,
        /// The decoder's complaint.
        #[source]
        source: io::Error,
    },
    /// The input is not an image archive hull understands.
    #[error("{} is not a usable image archive: {reason}", path.display())]
    BadArchive {
        /// The file or directory given.
        path: PathBuf,
        /// What is missing or malformed.
        reason: String,
    },
    /// Removing the image would break a container.
    #[error(
        "image {reference} ({id}) is used by a container; remove the container first, or force"
    )]
    ImageInUse {
        /// The reference given.
        reference: String,
        /// The image id.
        id: String,
    },
    /// Removing by id would drop several names at once.
    #[error("image {id} is referenced by {refs}; remove it by name, or force")]
    MultipleReferences {
        /// The image id.
        id: String,
        /// Its names, comma separated.
        refs: String,
    },
    /// An external tool (mkfs.erofs, mkfs.ext4, debootstrap) is not installed.
    #[error("`{tool}` is not installed; install it with `apt-get install {package}`")]
    ToolMissing {
        /// The program name.
        tool: &'static str,
        /// The Debian package providing it.
        package: &'static str,
    },
    /// An external tool failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    ToolFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The tail of its stderr.
        stderr: String,
    },
    /// The operation needs privileges this process lacks.
    #[error("{what} needs root (CAP_CHOWN, CAP_MKNOD, trusted.* xattrs); run hull as root")]
    NeedsRoot {
        /// What was attempted.
        what: String,
    },
    /// Another hull process changed the store underneath this operation.
    #[error("{0}; another hull process changed the store meanwhile (prune?): retry")]
    ConcurrentChange(String),
    /// The name is not a base image hull can build offline.
    #[error("hull cannot build {0:?} offline; base images it can build: busybox, debian:bookworm, scratch")]
    UnknownBaseImage(String),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Attaches an action and a path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            action,
            path: path.into(),
            source,
        })
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(io::Error::from).io(action, path)
    }
}

/// Parses JSON, naming the document in the error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Json {
        what: what.to_owned(),
        source,
    })
}
