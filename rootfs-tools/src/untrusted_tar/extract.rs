//! [`Extractor`]: a guest's entries, checked, written under one host directory.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};
use tar::EntryType;

use super::{
    io_error, unsafe_entry, Budget, ExtractError, ExtractLimits, Rebase, Result, KEPT_MODE_BITS,
};
use crate::layer_entry::is_metadata_entry;

/// Extracts checked entries under one host directory.
#[derive(Debug)]
pub struct Extractor {
    root: PathBuf,
    rebase: Rebase,
    budget: Budget,
    /// Non-directories this stream created (hard links may point only at them).
    created: HashSet<PathBuf>,
    /// Directories whose mode and mtime are set last (children change the mtime).
    dirs: Vec<(PathBuf, u32, i64)>,
}

impl Extractor {
    /// Extracts into the existing directory `root` (the caller's own, e.g. resolved from the
    /// user's destination), entries renamed by `rebase`.
    pub fn new(root: &Path, rebase: Rebase, limits: ExtractLimits) -> Self {
        Self {
            root: root.to_path_buf(),
            rebase,
            budget: Budget::new(limits),
            created: HashSet::new(),
            dirs: Vec::new(),
        }
    }

    /// Checks and writes one entry.
    pub fn extract<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if is_metadata_entry(kind) {
            return Ok(());
        }
        let raw = entry.path().map_err(ExtractError::Corrupt)?.into_owned();
        let size = if kind.is_file() { entry.size() } else { 0 };
        self.budget.take(size)?;
        let rel = self
            .rebase
            .apply(&raw)
            .map_err(|reason| unsafe_entry(&raw, reason))?;
        let mode = entry.header().mode().map_err(ExtractError::Corrupt)? & KEPT_MODE_BITS;
        let mtime = entry
            .header()
            .mtime()
            .map_err(ExtractError::Corrupt)
            .map(|t| i64::try_from(t).unwrap_or(0))?;
        let path = self.prepare_parents(&rel, &raw)?;
        let existing = fs::symlink_metadata(&path).ok();
        let existing_dir = existing.as_ref().is_some_and(fs::Metadata::is_dir);
        if kind.is_dir() {
            if existing.is_some() && !existing_dir {
                return Err(ExtractError::Overwrite {
                    existing: "non-directory",
                    path,
                    new: "directory",
                });
            }
            if existing.is_none() {
                fs::create_dir(&path).map_err(io_error("create directory", &path))?;
            }
            // The destination directory itself is the user's: its mode stays.
            if !rel.as_os_str().is_empty() {
                self.dirs.push((path, mode, mtime));
            }
            return Ok(());
        }
        if rel.as_os_str().is_empty() || existing_dir {
            return Err(ExtractError::Overwrite {
                existing: "directory",
                path,
                new: "non-directory",
            });
        }
        if existing.is_some() {
            fs::remove_file(&path).map_err(io_error("replace", &path))?;
        }
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                self.write_file(&mut entry, &path, &raw, mode, mtime)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(ExtractError::Corrupt)?
                    .ok_or_else(|| unsafe_entry(&raw, "symlink without a target"))?;
                // Stored as data: the host never follows it (later entries may not go through it).
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(io_error("create symlink", &path))?;
                set_times(&path, mtime, true)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(ExtractError::Corrupt)?
                    .ok_or_else(|| unsafe_entry(&raw, "hard link without a target"))?;
                let target = self
                    .rebase
                    .apply(&target)
                    .map_err(|reason| unsafe_entry(&raw, format!("hard link target: {reason}")))?;
                let target = self.root.join(target);
                if !self.created.contains(&target) {
                    return Err(unsafe_entry(
                        &raw,
                        "hard link to a file this archive did not create",
                    ));
                }
                // linkat without AT_SYMLINK_FOLLOW: a symlink is linked itself, never followed.
                fs::hard_link(&target, &path).map_err(io_error("create hard link", &path))?;
            }
            EntryType::Fifo => {
                rustix::fs::mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(mode), 0)
                    .map_err(|e| ExtractError::Io {
                        action: "create fifo",
                        path: path.clone(),
                        source: e.into(),
                    })?;
                set_times(&path, mtime, false)?;
            }
            EntryType::Char | EntryType::Block => {
                return Err(unsafe_entry(
                    &raw,
                    "device nodes are not copied to the host",
                ));
            }
            other => {
                return Err(unsafe_entry(
                    &raw,
                    format!("unsupported entry type {other:?}"),
                ));
            }
        }
        self.created.insert(path);
        Ok(())
    }

    /// Sets the directories' modes and times, deepest first; call after the last entry.
    pub fn finish(mut self) -> Result<()> {
        for (path, mode, mtime) in std::mem::take(&mut self.dirs).into_iter().rev() {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(io_error("set the mode of", &path))?;
            set_times(&path, mtime, false)?;
        }
        Ok(())
    }

    /// Every parent of `rel` as a real directory under the root (missing ones created);
    /// a symlink or non-directory on the way is refused. Returns the entry's host path.
    fn prepare_parents(&self, rel: &Path, raw: &Path) -> Result<PathBuf> {
        let mut current = self.root.clone();
        if let Some(parent) = rel.parent() {
            for component in parent.components() {
                current.push(component);
                match fs::symlink_metadata(&current) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(meta) if meta.file_type().is_symlink() => {
                        return Err(unsafe_entry(
                            raw,
                            format!(
                                "its parent {} is a symlink; hull never writes through symlinks",
                                current.display()
                            ),
                        ));
                    }
                    Ok(_) => return Err(unsafe_entry(raw, "a parent is not a directory")),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        fs::create_dir(&current).map_err(io_error("create directory", &current))?;
                    }
                    Err(e) => return Err(io_error("inspect", &current)(e)),
                }
            }
        }
        Ok(self.root.join(rel))
    }

    fn write_file<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
        raw: &Path,
        mode: u32,
        mtime: i64,
    ) -> Result<()> {
        let declared = entry.size();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0))
            .mode(0o600)
            .open(path)
            .map_err(io_error("create", path))?;
        // The tar reader yields exactly the declared size; `take` is a second guard.
        let written = io::copy(&mut entry.by_ref().take(declared), &mut file)
            .map_err(ExtractError::Corrupt)?;
        if written != declared {
            return Err(unsafe_entry(raw, "content shorter than its header says"));
        }
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))
            .map_err(|e| io_error("set the mode of", path)(e.into()))?;
        let times = timestamps(mtime);
        rustix::fs::futimens(&file, &times).map_err(|e| io_error("set times of", path)(e.into()))
    }
}

fn timestamps(mtime: i64) -> Timestamps {
    let time = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

fn set_times(path: &Path, mtime: i64, is_symlink: bool) -> Result<()> {
    let flags = if is_symlink {
        AtFlags::SYMLINK_NOFOLLOW
    } else {
        AtFlags::empty()
    };
    rustix::fs::utimensat(CWD, path, &timestamps(mtime), flags)
        .map_err(|e| io_error("set times of", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::super::hostile::{hostile_tar, LIMITS};
    use super::*;

    fn extract_all(tar: &[u8], root: &Path, rebase: Rebase, limits: ExtractLimits) -> Result<()> {
        let mut archive = tar::Archive::new(tar);
        let mut extractor = Extractor::new(root, rebase, limits);
        for entry in archive.entries().map_err(ExtractError::Corrupt)? {
            extractor.extract(entry.map_err(ExtractError::Corrupt)?)?;
        }
        extractor.finish()
    }

    #[test]
    fn parent_dir_and_absolute_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        for name in ["../escaped", "a/../../escaped", "/escaped"] {
            let tar = hostile_tar(&[(name, EntryType::Regular, b"x")]);
            let err = extract_all(&tar, &dest, Rebase::default(), LIMITS).unwrap_err();
            assert!(matches!(err, ExtractError::Unsafe { .. }), "{name}: {err}");
        }
        assert!(!dir.path().join("escaped").exists());
    }

    #[test]
    fn a_file_through_a_symlink_is_refused_and_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (dest, outside) = (dir.path().join("dest"), dir.path().join("outside"));
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        let target = outside.to_string_lossy().into_owned();
        let tar = hostile_tar(&[
            ("link", EntryType::Symlink, target.as_bytes()),
            ("link/owned", EntryType::Regular, b"x"),
        ]);
        let err = extract_all(&tar, &dest, Rebase::default(), LIMITS).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!outside.join("owned").exists());
        // The link itself is kept as data.
        assert_eq!(fs::read_link(dest.join("link")).unwrap(), outside);
    }

    #[test]
    fn an_existing_symlink_at_a_files_path_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"safe").unwrap();
        let tar = hostile_tar(&[
            ("f", EntryType::Symlink, victim.to_string_lossy().as_bytes()),
            ("f", EntryType::Regular, b"overwritten?"),
        ]);
        extract_all(&tar, &dest, Rebase::default(), LIMITS).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"safe");
        assert_eq!(fs::read(dest.join("f")).unwrap(), b"overwritten?");
    }

    #[test]
    fn devices_foreign_hard_links_and_oversize_are_refused_setid_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, b"s").unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let tar = hostile_tar(&[("sda", EntryType::Block, b"")]);
        assert!(extract_all(&tar, &dest, Rebase::default(), LIMITS).is_err());
        let tar = hostile_tar(&[("h", EntryType::Link, b"../secret")]);
        assert!(extract_all(&tar, &dest, Rebase::default(), LIMITS).is_err());
        let tar = hostile_tar(&[("big", EntryType::Regular, &[7u8; 4096])]);
        let small = ExtractLimits {
            max_bytes: 1000,
            max_entries: 10,
        };
        let err = extract_all(&tar, &dest, Rebase::default(), small).unwrap_err();
        assert!(matches!(err, ExtractError::TooLarge { .. }), "{err}");
        assert!(!dest.join("big").exists(), "checked before writing");
        let tar = hostile_tar(&[("suid", EntryType::Regular, b"x")]);
        extract_all(&tar, &dest, Rebase::default(), LIMITS).unwrap();
        let mode = fs::metadata(dest.join("suid"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
    }

    #[test]
    fn rebase_renames_the_top_and_refuses_entries_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let tar = hostile_tar(&[
            ("etc/", EntryType::Directory, b""),
            ("etc/hostname", EntryType::Regular, b"h"),
        ]);
        let rebase = Rebase {
            from: "etc".into(),
            to: "copy".into(),
        };
        extract_all(&tar, dir.path(), rebase.clone(), LIMITS).unwrap();
        assert_eq!(fs::read(dir.path().join("copy/hostname")).unwrap(), b"h");
        let tar = hostile_tar(&[("other", EntryType::Regular, b"h")]);
        assert!(extract_all(&tar, dir.path(), rebase, LIMITS).is_err());
        // Directory over file and file over directory are Docker's errors.
        let tar = hostile_tar(&[("copy", EntryType::Regular, b"h")]);
        let err = extract_all(&tar, dir.path(), Rebase::default(), LIMITS).unwrap_err();
        assert!(matches!(err, ExtractError::Overwrite { .. }), "{err}");
    }
}
