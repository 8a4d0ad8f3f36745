//! flock(2) on small files of a network's directory: the locks that order the store's
//! writers, the attachers and the network's daemon (see [`crate::daemon`] for the protocol).

use crate::error::{IoContext, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// A held lock; released when dropped (or when the process ends, even by kill -9).
pub type Held = Flock<File>;

/// Opens (creating) `path` for locking.
fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .context(|| format!("cannot open {}", path.display()))
}

/// Waits for the exclusive lock on `path`.
pub fn exclusive(path: &Path) -> Result<Held> {
    lock(path, FlockArg::LockExclusive)
}

/// Waits for a shared lock on `path`.
pub fn shared(path: &Path) -> Result<Held> {
    lock(path, FlockArg::LockShared)
}

/// The exclusive lock on `path` if nobody holds any lock on it right now.
pub fn try_exclusive(path: &Path) -> Result<Option<Held>> {
    try_lock(open(path)?, path, FlockArg::LockExclusiveNonblock)
}

/// Whether someone holds an exclusive lock on `file` right now (a shared lock can be taken
/// otherwise; it is released at once).
pub fn is_held_exclusively(file: File, path: &Path) -> Result<bool> {
    Ok(try_lock(file, path, FlockArg::LockSharedNonblock)?.is_none())
}

fn lock(path: &Path, how: FlockArg) -> Result<Held> {
    Flock::lock(open(path)?, how)
        .map_err(|(_, errno)| errno)
        .context(|| format!("cannot lock {}", path.display()))
}

fn try_lock(file: File, path: &Path, how: FlockArg) -> Result<Option<Held>> {
    match Flock::lock(file, how) {
        Ok(held) => Ok(Some(held)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(errno).context(|| format!("cannot lock {}", path.display())),
    }
}
