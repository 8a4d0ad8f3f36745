//! What a front-end hears while blobs move: one line of state per blob, Docker's words.

/// The state of one blob in a pull or push (Docker's progress messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent {
    /// Queued behind the other transfers (`Pulling fs layer`, `Preparing`).
    Waiting,
    /// The local store (pull) or the registry (push) has it already.
    AlreadyExists,
    /// `done` of `total` bytes moved (`Downloading`, `Pushing`).
    Progress {
        /// Bytes moved so far (a resumed download starts above zero).
        done: u64,
        /// The blob's size from its descriptor.
        total: u64,
    },
    /// A download resumes from `offset` bytes kept by an interrupted pull.
    Resuming {
        /// Bytes already on disk and re-verified.
        offset: u64,
    },
    /// All bytes are in and the digest matched (`Download complete`).
    Downloaded,
    /// The registry now has the blob (`Pushed`).
    Pushed,
    /// The pulled image is in the store with this layer (`Pull complete`); sent by the
    /// engine once the store has converted the layers.
    Complete,
    /// The registry linked the blob from another repository (`Mounted from REPO`).
    Mounted {
        /// The repository it came from.
        from: String,
    },
}

/// Receives [`TransferEvent`]s; the id is the blob's 12-hex-digit short digest.
pub trait TransferObserver {
    /// `blob` changed state.
    fn blob(&self, _blob: &str, _event: TransferEvent) {}
}

impl TransferObserver for () {}

/// The 12 hex digits Docker names a layer by in progress output.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}
