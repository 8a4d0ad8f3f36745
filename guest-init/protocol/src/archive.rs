//! The filesystem operations hull-init performs in a container's root for `cp`, `diff`
//! and `commit` ([`ArchiveRequest`]), and what they answer.

use serde::{Deserialize, Serialize};

/// A filesystem operation hull-init itself performs in the container's root (the merged
/// overlay view the container's process sees, its mounts included), for `hull cp` and any
/// later verb that moves files in or out of a container (`diff`, `commit`). It runs as an
/// exec session ([`ControlMessage::ArchiveStart`]): its output comes as
/// [`GuestEvent::ExecOutput`] (stdout: the result; stderr: why it failed), its input as
/// [`ControlMessage::ExecStdin`], its end as [`GuestEvent::ExecExit`] with
/// [`ARCHIVE_OK`], [`ARCHIVE_NOT_FOUND`] or [`ARCHIVE_FAILED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ArchiveRequest {
    /// Describe `path` without following a final symlink: one [`PathStat`] as JSON on stdout.
    Stat {
        /// Absolute path in the container.
        path: String,
    },
    /// A tar stream of `path` on stdout: its top entry is named after the path's last
    /// component (`.` for `dir/.`, Docker's "content of"), a directory's entries under it.
    /// Symlinks are archived as links; with `follow_link` a final symlink is resolved (in
    /// the container's root) and its target archived under the link's name.
    Export {
        /// Absolute path in the container.
        path: String,
        /// Docker's `cp -L`.
        #[serde(default)]
        follow_link: bool,
    },
    /// Extract the tar stream read on stdin into the existing directory `path`, entries
    /// relative to it; an existing directory is never replaced by a non-directory nor the
    /// other way round. Owners are kept with `keep_owner` (Docker's `cp -a`), else root's.
    Import {
        /// Absolute path of a directory in the container.
        path: String,
        /// Docker's `cp -a`.
        #[serde(default)]
        keep_owner: bool,
    },
    /// The container's changes against its image (`hull diff`): one [`ContainerChange`] as
    /// JSON per line on stdout, read from the overlay's upper directory.
    Changes,
    /// The container's changes as an OCI layer tar on stdout (`hull commit`): whiteouts as
    /// `.wh.` files, hull-init's own files left out.
    ExportChanges {
        /// Freeze the container's processes (its cgroup) while the tar is written (Docker's
        /// `commit --pause`).
        #[serde(default)]
        freeze: bool,
        /// Only what changed since this container's previous export (a build runs its
        /// steps in one VM, each step its own layer): changed and new entries with their
        /// parent directories, and whiteouts for what went away.
        #[serde(default)]
        since_last: bool,
    },
}

/// One line of [`ArchiveRequest::Changes`] (Docker's `docker diff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerChange {
    /// `A` added, `C` changed, `D` deleted.
    pub kind: char,
    /// Absolute path in the container.
    pub path: String,
}

impl ArchiveRequest {
    /// Whether the operation reads the session's stdin.
    pub fn reads_stdin(&self) -> bool {
        matches!(self, Self::Import { .. })
    }
}

/// [`ArchiveRequest`] status: done.
pub const ARCHIVE_OK: i32 = 0;
/// [`ArchiveRequest`] status: failed; stderr says why.
pub const ARCHIVE_FAILED: i32 = 1;
/// [`ArchiveRequest`] status: the path does not exist (or a parent is not a directory).
pub const ARCHIVE_NOT_FOUND: i32 = 2;

/// What [`ArchiveRequest::Stat`] reports (Docker's `PathStat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// The last component of the path.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// The target of a symlink; empty otherwise.
    #[serde(default)]
    pub link_target: String,
}

impl PathStat {
    /// `S_IFMT` of [`Self::mode`].
    const TYPE_MASK: u32 = 0o170_000;

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.mode & Self::TYPE_MASK == 0o040_000
    }

    /// A symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & Self::TYPE_MASK == 0o120_000
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & Self::TYPE_MASK == 0o100_000
    }
}
