//! The host's side of a copy, as Docker's client resolves it: where a copy out may land,
//! what a copy in sends.

use super::paths::{asserts_directory, Destination};
use crate::error::{Error, Result};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Symlinks followed when resolving a host destination (Docker's limit).
const MAX_SYMLINKS: usize = 10;

/// Docker's `validateOutputPath` and `CopyInfoDestinationPath`: the parent must exist; a
/// symlink at the destination is followed (the host's own files, not the guest's).
pub(super) fn host_destination(path: &Path) -> Result<Destination> {
    let given = path.to_string_lossy().into_owned();
    let parent = Path::new(&given)
        .components()
        .collect::<PathBuf>()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if !parent.as_os_str().is_empty() && !parent.exists() {
        return Err(Error::Copy(format!(
            "invalid output path: directory {:?} does not exist",
            parent.display().to_string()
        )));
    }
    let mut current = PathBuf::from(&given);
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(meta) => {
                if !meta.is_dir() && !meta.is_file() {
                    return Err(Error::Copy(format!(
                        "invalid output path: {given:?} must be a directory or a regular file"
                    )));
                }
                return Ok(Destination {
                    path: resolved_text(&current, given),
                    exists: true,
                    is_dir: meta.is_dir(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Destination {
                    path: resolved_text(&current, given),
                    exists: false,
                    is_dir: false,
                });
            }
            Err(e) => return Err(Error::Copy(format!("stat {}: {e}", current.display()))),
        }
    }
    Err(Error::Copy(format!("too many symlinks in {given}")))
}

/// Docker's `CopyInfoSourcePath`: the host source (a symlink followed with `-L`) and whether
/// it is a directory.
pub(super) fn host_source(path: &Path, follow_link: bool) -> Result<(PathBuf, bool)> {
    let missing = |e: io::Error| Error::Copy(format!("lstat {}: {}", path.display(), os_text(&e)));
    let meta = fs::symlink_metadata(path).map_err(missing)?;
    if follow_link && meta.file_type().is_symlink() {
        let resolved = fs::canonicalize(path).map_err(missing)?;
        let is_dir = fs::metadata(&resolved).map_err(missing)?.is_dir();
        return Ok((resolved, is_dir));
    }
    if asserts_directory(&path.to_string_lossy()) && !meta.is_dir() {
        return Err(Error::Copy(format!(
            "lstat {}: not a directory",
            path.display()
        )));
    }
    Ok((path.to_path_buf(), meta.is_dir()))
}

/// An OS error as Go prints it ("no such file or directory").
fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `given` as the user wrote it when no symlink was followed, else where it led.
fn resolved_text(current: &Path, given: String) -> String {
    if current == Path::new(&given) {
        given
    } else {
        current.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_destinations_need_a_parent_and_follow_the_users_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/file");
        let err = host_destination(&missing).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let dest = host_destination(&link).unwrap();
        assert_eq!((dest.exists, dest.is_dir), (true, true));
        assert_eq!(Path::new(&dest.path), real);
        let new = host_destination(&dir.path().join("new")).unwrap();
        assert!(!new.exists);
    }

    #[test]
    fn a_missing_host_source_says_so_as_go_does() {
        let err = host_source(Path::new("/no/such/source"), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "lstat /no/such/source: no such file or directory"
        );
    }
}
