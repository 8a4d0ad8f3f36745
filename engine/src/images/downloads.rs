//! `<root>/downloads/`: the blob cache a pull resumes from (`sha256/`) and one OCI layout
//! directory per pull in progress (`layout-*`). A pull holds an exclusive lock on its
//! layout for its whole life, so one left by a pull that was killed (kill -9, power loss:
//! its `TempDir` never dropped) is recognised by the next pull, which takes the lock
//! (nobody holds it) and deletes it. A live pull's layout is never touched.

use std::fs::File;
use std::path::Path;

/// A pull's layout directory, locked while this lives (and removed when dropped).
pub struct LockedLayout {
    dir: tempfile::TempDir,
    _lock: File,
}

impl LockedLayout {
    /// Makes and locks a new layout directory in `downloads`, after removing those of
    /// pulls that died.
    pub fn create(downloads: &Path) -> std::io::Result<Self> {
        remove_stale(downloads);
        let dir = tempfile::Builder::new()
            .prefix("layout-")
            .tempdir_in(downloads)?;
        let lock = File::open(dir.path())?;
        lock.lock()?;
        Ok(Self { dir, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes every `layout-*` directory under `downloads` no process holds the lock of.
pub fn remove_stale(downloads: &Path) {
    let Ok(entries) = std::fs::read_dir(downloads) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("layout-") {
            continue;
        }
        let path = entry.path();
        let Ok(dir) = File::open(&path) else {
            continue;
        };
        // Held: a pull in progress. Free: its pull is gone (the lock went with its process).
        if dir.try_lock().is_ok() {
            if let Err(err) = std::fs::remove_dir_all(&path) {
                tracing::warn!("cannot remove the stale download {}: {err}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_pulls_layout_goes_and_a_live_ones_stays() {
        let downloads = tempfile::tempdir().unwrap();
        let live = LockedLayout::create(downloads.path()).unwrap();
        std::fs::write(live.path().join("index.json"), "{}").unwrap();
        // A layout whose pull was killed: on disk, nobody holding its lock.
        let dead = downloads.path().join("layout-killed");
        std::fs::create_dir_all(dead.join("blobs/sha256")).unwrap();
        std::fs::write(dead.join("blobs/sha256/abc"), "partial").unwrap();
        let cache = downloads.path().join("sha256");
        std::fs::create_dir_all(&cache).unwrap();

        let next = LockedLayout::create(downloads.path()).unwrap();
        assert!(!dead.exists(), "the dead pull's layout is removed");
        assert!(
            live.path().join("index.json").exists(),
            "a live pull is untouched"
        );
        assert!(
            next.path().exists() && cache.exists(),
            "the blob cache stays"
        );
        let kept = live.path().to_path_buf();
        drop(live);
        assert!(!kept.exists(), "a finished pull removes its own layout");
    }
}
