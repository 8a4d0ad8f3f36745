//! Tar streams a guest wrote (`hull cp` out of a container), checked entry by entry before
//! anything reaches the host, and either extracted into a host directory ([`Extractor`]) or
//! passed on as a tar stream ([`Refiler`], `hull cp CONTAINER:PATH -`).
//!
//! The rules are the image store's for layers (see `apply`): names must be relative and
//! free of `..`; nothing is ever created through a symlink (every parent must be a real
//! directory; a file's path is unlinked, never opened, before it is created with
//! `O_NOFOLLOW | O_EXCL`); hard links only point at files this same stream created; device
//! nodes are refused (a node the guest chose, made by a host root, would open the host's
//! devices); the declared size of each file counts against a byte budget before anything is
//! written, and entries are counted. Beyond them, as Docker's `cp` does: nothing is
//! chowned (files belong to whoever runs hull), an existing directory is never replaced by
//! a non-directory nor the other way round. Set-id bits are dropped: a guest must not be
//! able to hand the host a setuid-root program.

mod extract;
mod refile;

pub use extract::Extractor;
pub use refile::Refiler;

use std::io;
use std::path::{Path, PathBuf};

use crate::layer_entry::clean_path;

/// Permission bits kept on the host: set-uid and set-gid are dropped.
const KEPT_MODE_BITS: u32 = 0o1777;

/// Why a stream was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// An entry tried something hull never does on the host.
    #[error("archive entry {entry:?} rejected: {reason}")]
    Unsafe {
        /// The entry's name in the stream.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The entries' content exceeds the budget.
    #[error("the archive holds more than {limit} bytes of file content")]
    TooLarge {
        /// The budget.
        limit: u64,
    },
    /// More entries than the budget.
    #[error("the archive holds more than {limit} entries")]
    TooManyEntries {
        /// The budget.
        limit: u64,
    },
    /// Docker's refusal to replace a directory by a file or a file by a directory.
    #[error("cannot overwrite {existing} {path:?} with {new}")]
    Overwrite {
        /// "directory" or "non-directory".
        existing: &'static str,
        /// The host path.
        path: PathBuf,
        /// "non-directory" or "directory".
        new: &'static str,
    },
    /// The stream is not a readable tar.
    #[error("the archive is unreadable")]
    Corrupt(#[source] io::Error),
    /// A host file operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

type Result<T, E = ExtractError> = std::result::Result<T, E>;

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ExtractError {
    let path = path.to_path_buf();
    move |source| ExtractError::Io {
        action,
        path,
        source,
    }
}

/// Budgets of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Most bytes of file content (declared sizes, checked before writing).
    pub max_bytes: u64,
    /// Most entries.
    pub max_entries: u64,
}

/// Renames the top of every entry: entries named `from` or under `from/` come out as `to`
/// (Docker's rebase: `cp c:/dir newname`). `from` empty means every entry, `to` empty
/// keeps them where they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebase {
    /// The stream's top name (clean, relative; empty for `.`).
    pub from: PathBuf,
    /// Its name on the host, relative to the destination directory.
    pub to: PathBuf,
}

impl Rebase {
    /// `name` cleaned and renamed, or why it is refused.
    fn apply(&self, name: &Path) -> Result<PathBuf, String> {
        let clean = clean_path(name).map_err(str::to_owned)?;
        let rest = clean
            .strip_prefix(&self.from)
            .map_err(|_| format!("not under the copied path {:?}", self.from))?;
        Ok(if rest.as_os_str().is_empty() {
            self.to.clone()
        } else {
            self.to.join(rest)
        })
    }
}

/// Counts entries and content bytes against [`ExtractLimits`].
#[derive(Debug)]
struct Budget {
    limits: ExtractLimits,
    entries: u64,
    bytes: u64,
}

impl Budget {
    fn new(limits: ExtractLimits) -> Self {
        Self {
            limits,
            entries: 0,
            bytes: 0,
        }
    }

    fn take(&mut self, size: u64) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.limits.max_bytes {
            return Err(ExtractError::TooLarge {
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }
}

fn unsafe_entry(name: &Path, reason: impl Into<String>) -> ExtractError {
    ExtractError::Unsafe {
        entry: name.display().to_string(),
        reason: reason.into(),
    }
}

/// Hostile streams for the tests: raw headers, so names a tar writer refuses get through.
#[cfg(test)]
mod hostile {
    use super::*;
    pub(super) use tar::EntryType;

    pub(super) const LIMITS: ExtractLimits = ExtractLimits {
        max_bytes: 1 << 20,
        max_entries: 100,
    };

    /// A tar of (name, kind, data-or-link-target) built with raw headers (no name checks).
    pub(super) fn hostile_tar(entries: &[(&str, EntryType, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_old();
            // set_path refuses `..`; a hostile guest writes the bytes directly.
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(0o6755);
            if matches!(kind, EntryType::Symlink | EntryType::Link) {
                header.as_old_mut().linkname[..data.len()].copy_from_slice(data);
                header.set_size(0);
            } else {
                header.set_size(data.len() as u64);
            }
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            if !matches!(kind, EntryType::Symlink | EntryType::Link) {
                out.extend_from_slice(data);
                out.resize(out.len().div_ceil(512) * 512, 0);
            }
        }
        out.resize(out.len() + 1024, 0);
        out
    }
}
