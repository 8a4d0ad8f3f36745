//! The built-in archive operations ([`ArchiveRequest`]): stat a path, stream a tar of it,
//! extract a tar into a directory. They run in a child of PID 1 that already entered the
//! container's mount namespace and root (`session::spawn`'s `archive_child`), so every path here is the
//! container's: its symlinks resolve inside its root, as they do for its own processes.
//!
//! Nothing is trusted on the way in either: the host's tar is extracted with the `tar`
//! crate's `unpack_in`, which refuses `..` and absolute names and never writes through a
//! symlink out of the destination.

use hull_protocol::{ArchiveRequest, PathStat, ARCHIVE_FAILED, ARCHIVE_NOT_FOUND, ARCHIVE_OK};
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
enum ArchiveError {
    /// The path (or a parent of it) does not exist.
    #[error("no such file or directory: {0}")]
    NotFound(String),
    /// Anything else, said as Docker's daemon says it.
    #[error("{0}")]
    Failed(String),
}

impl ArchiveError {
    fn io(what: &str, path: &Path, error: &io::Error) -> Self {
        if matches!(
            error.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        ) {
            Self::NotFound(path.display().to_string())
        } else {
            Self::Failed(format!("{what} {}: {error}", path.display()))
        }
    }

    fn status(&self) -> i32 {
        match self {
            Self::NotFound(_) => ARCHIVE_NOT_FOUND,
            Self::Failed(_) => ARCHIVE_FAILED,
        }
    }
}

/// Runs `request`: its result on `output`, why it failed on `errors`; returns the session's
/// status ([`ARCHIVE_OK`], [`ARCHIVE_NOT_FOUND`], [`ARCHIVE_FAILED`]).
pub fn run(
    request: &ArchiveRequest,
    input: impl Read,
    output: impl Write,
    mut errors: impl Write,
) -> i32 {
    let result = match request {
        ArchiveRequest::Stat { path } => stat(Path::new(path), output),
        ArchiveRequest::Export { path, follow_link } => export(path, *follow_link, output),
        ArchiveRequest::Import { path, keep_owner } => import(Path::new(path), *keep_owner, input),
        ArchiveRequest::Changes | ArchiveRequest::ExportChanges { .. } => {
            let layout = crate::rootfs::Layout::new(crate::guest::WORK_DIR);
            crate::changes::run(request, &layout, output)
                .map_err(|e| ArchiveError::Failed(format!("read the container's changes: {e}")))
        }
    };
    match result {
        Ok(()) => ARCHIVE_OK,
        Err(error) => {
            let _ = writeln!(errors, "{error}");
            let _ = errors.flush();
            error.status()
        }
    }
}

/// Docker's `PathStat` of `path`, a final symlink not followed.
fn stat(path: &Path, mut output: impl Write) -> Result<(), ArchiveError> {
    let meta = fs::symlink_metadata(path).map_err(|e| ArchiveError::io("lstat", path, &e))?;
    let link_target = if meta.file_type().is_symlink() {
        fs::read_link(path)
            .map_err(|e| ArchiveError::io("readlink", path, &e))?
            .to_string_lossy()
            .into_owned()
    } else {
        String::new()
    };
    let stat = PathStat {
        name: entry_name(&path.to_string_lossy()),
        size: meta.size(),
        mode: meta.mode(),
        mtime: meta.mtime(),
        link_target,
    };
    let json = serde_json::to_vec(&stat).map_err(|e| ArchiveError::Failed(e.to_string()))?;
    output
        .write_all(&json)
        .and_then(|()| output.flush())
        .map_err(|e| ArchiveError::Failed(format!("write the result: {e}")))
}

/// The name of the top entry of `path`'s archive: its last component, `.` for a path that
/// ends in `/.` (Docker's "the content of the directory") or for `/`.
pub fn entry_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." || trimmed.ends_with("/.") {
        return ".".into();
    }
    Path::new(trimmed)
        .file_name()
        .map_or_else(|| ".".into(), |name| name.to_string_lossy().into_owned())
}

/// A tar of `path` on `output`, named [`entry_name`]. A directory's symlinks stay links.
fn export(path: &str, follow_link: bool, output: impl Write) -> Result<(), ArchiveError> {
    let name = entry_name(path);
    let as_given = Path::new(path);
    let meta =
        fs::symlink_metadata(as_given).map_err(|e| ArchiveError::io("lstat", as_given, &e))?;
    let source: PathBuf = if follow_link && meta.file_type().is_symlink() {
        // Resolved in the container's root (this process's root): it cannot leave it.
        fs::canonicalize(as_given).map_err(|e| ArchiveError::io("resolve", as_given, &e))?
    } else {
        as_given.to_path_buf()
    };
    let meta = fs::symlink_metadata(&source).map_err(|e| ArchiveError::io("lstat", &source, &e))?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(64 * 1024, output));
    builder.follow_symlinks(false);
    let written = if meta.is_dir() {
        builder.append_dir_all(&name, &source)
    } else {
        builder.append_path_with_name(&source, &name)
    };
    written
        .and_then(|()| builder.into_inner())
        .and_then(|mut out| out.flush())
        .map_err(|e| ArchiveError::io("archive", &source, &e))
}

/// Extracts the tar on `input` into the existing directory `dir`.
fn import(dir: &Path, keep_owner: bool, input: impl Read) -> Result<(), ArchiveError> {
    let meta = fs::metadata(dir).map_err(|e| ArchiveError::io("stat", dir, &e))?;
    if !meta.is_dir() {
        return Err(ArchiveError::Failed(format!(
            "extraction point is not a directory: {}",
            dir.display()
        )));
    }
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(keep_owner);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let bad_stream = |e: io::Error| ArchiveError::Failed(format!("the archive is unreadable: {e}"));
    for entry in archive.entries().map_err(bad_stream)? {
        let mut entry = entry.map_err(bad_stream)?;
        let name = entry.path().map_err(bad_stream)?.into_owned();
        check_overwrite(dir, &name, entry.header().entry_type().is_dir())?;
        let unpacked = entry
            .unpack_in(dir)
            .map_err(|e| ArchiveError::Failed(format!("extract {}: {e}", name.display())))?;
        if !unpacked {
            return Err(ArchiveError::Failed(format!(
                "refusing archive entry {} outside {}",
                name.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Docker's rule: an existing directory is never replaced by a non-directory, nor a
/// non-directory by a directory.
fn check_overwrite(dir: &Path, name: &Path, entry_is_dir: bool) -> Result<(), ArchiveError> {
    let target = dir.join(name);
    let Ok(existing) = fs::symlink_metadata(&target) else {
        return Ok(());
    };
    let (existing_dir, shown) = (existing.is_dir(), target.display());
    let dest = dir.display();
    match (existing_dir, entry_is_dir) {
        (true, false) => Err(ArchiveError::Failed(format!(
            "cannot overwrite directory \"{shown}\" with non-directory \"{dest}\""
        ))),
        (false, true) => Err(ArchiveError::Failed(format!(
            "cannot overwrite non-directory \"{shown}\" with directory \"{dest}\""
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_follow_dockers_last_component_rule() {
        assert_eq!(entry_name("/etc/hostname"), "hostname");
        assert_eq!(entry_name("/etc/"), "etc");
        assert_eq!(entry_name("/etc/."), ".");
        assert_eq!(entry_name("/etc/./"), ".");
        assert_eq!(entry_name("/"), ".");
    }

    fn run_ok(request: &ArchiveRequest, input: &[u8]) -> (i32, Vec<u8>, String) {
        let mut output = Vec::new();
        let mut errors = Vec::new();
        let code = run(request, input, &mut output, &mut errors);
        (code, output, String::from_utf8_lossy(&errors).into_owned())
    }

    #[test]
    fn export_then_import_round_trips_a_tree_and_keeps_symlinks_as_links() {
        let from = tempfile::tempdir().unwrap();
        let dir = from.path().join("d");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("escape")).unwrap();
        let export = ArchiveRequest::Export {
            path: dir.to_string_lossy().into_owned(),
            follow_link: false,
        };
        let (code, tar, errors) = run_ok(&export, b"");
        assert_eq!(code, ARCHIVE_OK, "{errors}");
        let to = tempfile::tempdir().unwrap();
        let import = ArchiveRequest::Import {
            path: to.path().to_string_lossy().into_owned(),
            keep_owner: false,
        };
        let (code, _, errors) = run_ok(&import, &tar);
        assert_eq!(code, ARCHIVE_OK, "{errors}");
        assert_eq!(fs::read(to.path().join("d/sub/f")).unwrap(), b"hello");
        assert_eq!(
            fs::read_link(to.path().join("d/escape")).unwrap(),
            Path::new("/etc")
        );
    }

    #[test]
    fn missing_paths_say_not_found_and_conflicts_fail() {
        let export = ArchiveRequest::Export {
            path: "/no/such/path".into(),
            follow_link: false,
        };
        assert_eq!(run_ok(&export, b"").0, ARCHIVE_NOT_FOUND);
        let stat = ArchiveRequest::Stat {
            path: "/no/such".into(),
        };
        assert_eq!(run_ok(&stat, b"").0, ARCHIVE_NOT_FOUND);

        // A tar with a file "x" into a directory that has a directory "x".
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, "x", &b"1"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let to = tempfile::tempdir().unwrap();
        fs::create_dir(to.path().join("x")).unwrap();
        let import = ArchiveRequest::Import {
            path: to.path().to_string_lossy().into_owned(),
            keep_owner: false,
        };
        let (code, _, errors) = run_ok(&import, &tar);
        assert_eq!(code, ARCHIVE_FAILED);
        assert!(errors.contains("cannot overwrite directory"), "{errors}");
    }

    #[test]
    fn a_hostile_entry_never_lands_outside_the_directory() {
        let outside = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        // A symlink to outside, then a file through it.
        let mut builder = tar::Builder::new(Vec::new());
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder.append_link(&mut link, "l", outside.path()).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_size(1);
        file.set_mode(0o644);
        file.set_cksum();
        builder
            .append_data(&mut file, "l/owned", &b"x"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let import = ArchiveRequest::Import {
            path: to.path().to_string_lossy().into_owned(),
            keep_owner: false,
        };
        let (code, _, _) = run_ok(&import, &tar);
        assert_ne!(code, ARCHIVE_OK);
        assert!(!outside.path().join("owned").exists());
    }
}
