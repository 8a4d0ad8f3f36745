//! Crash-safe file primitives: atomic writes, directory fsync, flock-based locks.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{flock, FlockOperation};

use crate::error::{IoContext, Result};

/// Makes a completed rename or create in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .io("sync directory", dir)
}

/// Writes `bytes` to `path` so that readers see either the old file or the new one, never a
/// partial one, even across kill -9 or power loss: temp file in `tmp_dir` (same filesystem),
/// fsync, rename, fsync of the parent directory.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<()> {
    let tmp = unique_path(tmp_dir, "write");
    let result = (|| {
        let mut file = File::create(&tmp).io("create", &tmp)?;
        file.write_all(bytes).io("write", &tmp)?;
        file.sync_all().io("sync", &tmp)?;
        fs::rename(&tmp, path).io("rename into place", path)?;
        fsync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Moves a finished file into its content-addressed place unless an identical one is already
/// there (same name = same digest = same content).
pub(crate) fn install_file(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        return Ok(());
    }
    File::open(from)
        .and_then(|f| f.sync_all())
        .io("sync", from)?;
    fs::rename(from, to).io("rename into place", to)
}

/// A fresh path under `dir` that no other thread or process of this host picks.
pub(crate) fn unique_path(dir: &Path, what: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{what}-{}-{nanos}-{n}", std::process::id()))
}

/// An exclusive flock, released when dropped (or when the process dies, which is what makes
/// it safe against kill -9). The lock belongs to the open file description: a child that
/// inherits the descriptor holds it too, until the last copy is closed.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` (created if missing) is ours.
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .io("open lock file", path)?;
        flock(&file, FlockOperation::LockExclusive).io("lock", path)?;
        Ok(Self { file })
    }

    /// The lock if nobody holds it, else `None`.
    pub(crate) fn try_acquire(path: &Path) -> Result<Option<Self>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .io("open lock file", path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Self { file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e).io("lock", path),
        }
    }

    /// The lock once every holder has let go, or `None` if one still holds it after `wait`.
    pub(crate) fn acquire_within(path: &Path, wait: Duration) -> Result<Option<Self>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = Self::try_acquire(path)? {
                return Ok(Some(lock));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The locked descriptor, for handing the lock on to a child process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Removes a file, symlink or directory tree without following symlinks.
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).io("remove", path),
        Ok(_) => fs::remove_file(path).io("remove", path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).io("inspect", path),
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-28T02:20:00Z`), the format OCI uses.
pub(crate) fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
}

/// Now, as RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_832_400), "2026-11-28T02:20:00Z");
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let target = dir.path().join("f");
        atomic_write(&target, b"one", &tmp).unwrap();
        atomic_write(&target, b"two", &tmp).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
