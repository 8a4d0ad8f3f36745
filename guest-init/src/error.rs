//! Setup failures and how they map to Docker's exit statuses (125, 126, 127).

use nix::errno::Errno;
use std::path::PathBuf;

/// Docker's status for "the container could not be set up".
pub const EXIT_SETUP_FAILED: i32 = 125;
/// Docker's status for "the command cannot be invoked" (permission denied, not executable).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Docker's status for "the command was not found".
pub const EXIT_NOT_FOUND: i32 = 127;

/// Why the container could not be started. Every variant renders as a message for the user
/// (it ends up in `RunResult::error`), and [`SetupError::exit_code`] gives Docker's status.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A system call failed.
    #[error("{what}: {errno}")]
    Sys {
        /// What was attempted, with its arguments.
        what: String,
        /// The kernel's answer.
        errno: Errno,
    },
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        what: &'static str,
        /// The file it was attempted on.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The spec asks for something hull-init cannot do.
    #[error("invalid run spec: {0}")]
    Spec(String),
    /// A disk named in the spec is not attached to the VM.
    #[error("disk with serial {serial:?} not found: the engine must attach it (see /sys/block/*/serial)")]
    MissingDisk {
        /// The disk's virtio-blk serial.
        serial: String,
    },
    /// `args[0]` has no `/` and is in no directory of `$PATH`.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotInPath(String),
    /// execve(2) failed.
    #[error("exec: \"{name}\": {reason}")]
    Exec {
        /// `args[0]` as given.
        name: String,
        /// Docker-style reason ("permission denied", "stat /x: no such file or directory").
        reason: String,
        /// The errno, which picks the exit code.
        errno: Errno,
    },
}

impl SetupError {
    /// Docker's exit status for this failure: 127 not found, 126 cannot execute, 125 other.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::NotInPath(_) => EXIT_NOT_FOUND,
            Self::Exec { errno, .. } => exec_errno_exit_code(*errno),
            _ => EXIT_SETUP_FAILED,
        }
    }

    /// Shorthand for a failed system call.
    pub fn sys(what: impl Into<String>, errno: Errno) -> Self {
        Self::Sys {
            what: what.into(),
            errno,
        }
    }

    /// Shorthand for a failed file operation.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// The exit status Docker reports when execve(2) fails with `errno`.
pub fn exec_errno_exit_code(errno: Errno) -> i32 {
    match errno {
        Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::ENAMETOOLONG => EXIT_NOT_FOUND,
        // Found but cannot run: no x bit, noexec mount, bad format, a directory.
        Errno::EACCES | Errno::EPERM | Errno::ENOEXEC | Errno::EISDIR | Errno::ETXTBSY => {
            EXIT_CANNOT_EXECUTE
        }
        _ => EXIT_SETUP_FAILED,
    }
}

/// Docker's wording for an execve(2) failure of `path`.
pub fn exec_failure(name: &str, path: &std::path::Path, errno: Errno) -> SetupError {
    let reason = match errno {
        Errno::ENOENT => format!("stat {}: no such file or directory", path.display()),
        Errno::EACCES | Errno::EPERM => "permission denied".to_string(),
        Errno::ENOEXEC => "exec format error".to_string(),
        Errno::EISDIR => "is a directory".to_string(),
        other => other.desc().to_lowercase(),
    };
    SetupError::Exec {
        name: name.to_string(),
        reason,
        errno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn not_in_path_is_127_with_dockers_words() {
        let err = SetupError::NotInPath("foo".into());
        assert_eq!(err.exit_code(), 127);
        assert_eq!(
            err.to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
    }

    #[test]
    fn errno_maps_to_126_or_127() {
        assert_eq!(
            exec_failure("/x", Path::new("/x"), Errno::ENOENT).exit_code(),
            127
        );
        assert_eq!(
            exec_failure("/x", Path::new("/x"), Errno::EACCES).exit_code(),
            126
        );
        assert_eq!(
            exec_failure("/x", Path::new("/x"), Errno::ENOEXEC).exit_code(),
            126
        );
        assert_eq!(
            exec_failure("/x", Path::new("/x"), Errno::ENOMEM).exit_code(),
            125
        );
        let err = exec_failure("/bin/foo", Path::new("/bin/foo"), Errno::ENOENT);
        assert_eq!(
            err.to_string(),
            "exec: \"/bin/foo\": stat /bin/foo: no such file or directory"
        );
    }

    #[test]
    fn other_setup_failures_are_125() {
        let err = SetupError::MissingDisk {
            serial: "hull-rw".into(),
        };
        assert_eq!(err.exit_code(), 125);
        assert_eq!(SetupError::sys("mount", Errno::EINVAL).exit_code(), 125);
    }
}
