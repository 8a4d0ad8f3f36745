//! Docker's `cp` path rules, without any I/O: where a copied file or directory lands and
//! under which name (Docker's `archive.PrepareArchiveCopy`), given what the source is and
//! what the destination already is.
//!
//! | source | destination | result |
//! |---|---|---|
//! | file | missing | a file named as the destination |
//! | file | missing, ends with `/` | error: no such directory |
//! | file | existing file | overwritten |
//! | file | existing directory | copied into it under its own name |
//! | directory | missing | created as the destination, with the source's content |
//! | directory | existing file | error: cannot copy directory |
//! | directory | existing directory | copied into it under its own name (`dir/.`: its content) |

use std::path::{Path, PathBuf};

/// What is at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The destination (a symlink at it already resolved, as Docker does).
    pub path: String,
    /// Something is there.
    pub exists: bool,
    /// It is a directory.
    pub is_dir: bool,
}

/// Where to extract and how to name the stream's top entry there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The existing directory the stream is extracted into.
    pub dir: String,
    /// The name the stream's top entry gets in `dir` (empty: the top is `dir` itself, for
    /// `dir/.` into an existing directory).
    pub name: PathBuf,
}

/// Why a copy cannot be placed (Docker's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// A directory onto an existing file.
    #[error("cannot copy directory")]
    CannotCopyDir,
    /// A file onto a missing path that says it is a directory (`DEST/`).
    #[error("no such directory")]
    DirNotExists,
}

/// The path says it is a directory: it ends with `/` or `/.`.
pub fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

/// `path` split into its parent directory and last component, Docker's
/// `SplitPathDirEntry`: `/a/b/` -> (`/a`, `b`), `/a/.` -> (`/a`, `.`), `b` -> (`.`, `b`).
pub fn split_dir_entry(path: &str) -> (String, String) {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    if trimmed.ends_with("/.") || trimmed == "." {
        let parent = trimmed.strip_suffix('.').unwrap_or(trimmed);
        let parent = parent.trim_end_matches('/');
        let parent = if parent.is_empty() && trimmed.starts_with('/') {
            "/"
        } else if parent.is_empty() {
            "."
        } else {
            parent
        };
        return (parent.to_string(), ".".into());
    }
    let as_path = Path::new(trimmed);
    let base = as_path
        .file_name()
        .map_or_else(|| trimmed.to_string(), |n| n.to_string_lossy().into_owned());
    let parent = match as_path.parent() {
        Some(p) if p.as_os_str().is_empty() => ".".to_string(),
        Some(p) => p.to_string_lossy().into_owned(),
        None => "/".to_string(),
    };
    (parent, base)
}

/// Docker's `PrepareArchiveCopy`: the source (a directory or not, its top entry named
/// `source_name`) copied to `dest`.
pub fn place(
    source_is_dir: bool,
    source_name: &str,
    dest: &Destination,
) -> Result<Placement, PlacementError> {
    let (dest_dir, dest_base) = split_dir_entry(&dest.path);
    let renamed = Placement {
        dir: dest_dir,
        name: PathBuf::from(dest_base),
    };
    if dest.exists && dest.is_dir {
        let name = if source_name == "." {
            PathBuf::new()
        } else {
            PathBuf::from(source_name)
        };
        return Ok(Placement {
            dir: dest.path.clone(),
            name,
        });
    }
    if dest.exists && source_is_dir {
        return Err(PlacementError::CannotCopyDir);
    }
    if dest.exists || source_is_dir {
        return Ok(renamed);
    }
    if asserts_directory(&dest.path) {
        return Err(PlacementError::DirNotExists);
    }
    Ok(renamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(path: &str, exists: bool, is_dir: bool) -> Destination {
        Destination {
            path: path.into(),
            exists,
            is_dir,
        }
    }

    fn placed(dir: &str, name: &str) -> Result<Placement, PlacementError> {
        Ok(Placement {
            dir: dir.into(),
            name: name.into(),
        })
    }

    #[test]
    fn split_keeps_dot_and_drops_trailing_slashes() {
        let split = |p: &str| {
            let (a, b) = split_dir_entry(p);
            (a, b)
        };
        assert_eq!(split("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split("/a/."), ("/a".into(), ".".into()));
        assert_eq!(split("/b"), ("/".into(), "b".into()));
        assert_eq!(split("b"), (".".into(), "b".into()));
        assert_eq!(split("./."), (".".into(), ".".into()));
        assert_eq!(split("/."), ("/".into(), ".".into()));
    }

    #[test]
    fn a_file_goes_to_a_new_name_an_existing_file_or_into_a_directory() {
        // Missing destination: a file of that name in its parent.
        assert_eq!(
            place(false, "hostname", &dest("/tmp/out", false, false)),
            placed("/tmp", "out")
        );
        // Missing destination that asserts a directory.
        assert_eq!(
            place(false, "hostname", &dest("/tmp/out/", false, false)),
            Err(PlacementError::DirNotExists)
        );
        // Existing file: overwritten.
        assert_eq!(
            place(false, "hostname", &dest("/tmp/f", true, false)),
            placed("/tmp", "f")
        );
        // Existing directory: into it, own name.
        assert_eq!(
            place(false, "hostname", &dest("/tmp/d", true, true)),
            placed("/tmp/d", "hostname")
        );
    }

    #[test]
    fn a_directory_becomes_a_new_one_goes_into_one_or_gives_its_content() {
        assert_eq!(
            place(true, "etc", &dest("/tmp/new", false, false)),
            placed("/tmp", "new")
        );
        assert_eq!(
            place(true, "etc", &dest("/tmp/new/", false, false)),
            placed("/tmp", "new")
        );
        assert_eq!(
            place(true, "etc", &dest("/tmp/d", true, true)),
            placed("/tmp/d", "etc")
        );
        // `dir/.` into an existing directory: the content lands in it.
        assert_eq!(
            place(true, ".", &dest("/tmp/d", true, true)),
            placed("/tmp/d", "")
        );
        // `dir/.` to a new directory: the same as `dir`.
        assert_eq!(
            place(true, ".", &dest("/tmp/new", false, false)),
            placed("/tmp", "new")
        );
        assert_eq!(
            place(true, "etc", &dest("/tmp/f", true, false)),
            Err(PlacementError::CannotCopyDir)
        );
    }
}
