//! The build cache: a step's key (its parent image, its instruction as it runs, and what
//! else decides its result: build-arg values, the digest of COPY sources) to the image it
//! made. Entries are files under `<root>/build-cache/`, one per key, written atomically, so
//! the cache survives restarts and concurrent builds; an entry whose image is gone (pruned,
//! removed) is a miss. Intermediate images are kept by `image prune` while a later image
//! of the build (their child) lives.

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// The cache under one root.
pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    /// The cache of the store at `root`.
    pub fn open(root: &Path) -> Self {
        Self {
            dir: root.join("build-cache"),
        }
    }

    /// The key of a step made of `parts`.
    pub fn key(parts: &[&str]) -> String {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        format!("{:x}", hash.finalize())
    }

    /// The image recorded for `key`, if any.
    pub fn get(&self, key: &str) -> Option<String> {
        let id = fs::read_to_string(self.dir.join(key)).ok()?;
        let id = id.trim();
        id.starts_with("sha256:").then(|| id.to_string())
    }

    /// Records `image` for `key` (best effort: a cache that cannot be written only costs
    /// a rebuild).
    pub fn put(&self, key: &str, image: &str) {
        let _ = fs::create_dir_all(&self.dir);
        let staging = self.dir.join(format!(".{key}.{}", std::process::id()));
        if fs::write(&staging, image).is_ok() {
            let _ = fs::rename(&staging, self.dir.join(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_keys_separate_parts() {
        let dir = tempfile::tempdir().unwrap();
        let key = BuildCache::key(&["sha256:parent", "RUN echo hi"]);
        assert_ne!(key, BuildCache::key(&["sha256:parent", "RUN echo hi", ""]));
        assert_ne!(key, BuildCache::key(&["sha256:parentRUN echo hi"]));
        BuildCache::open(dir.path()).put(&key, "sha256:abc");
        assert_eq!(
            BuildCache::open(dir.path()).get(&key).as_deref(),
            Some("sha256:abc")
        );
        assert_eq!(BuildCache::open(dir.path()).get("other"), None);
    }
}
