//! Docker's copy-up: a new, empty volume mounted over a directory the image has first
//! takes that directory's content (files, modes, owners, symlinks, times), so
//! `-v data:/var/lib/app` starts with what the image put there.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// True when `dir` has no entries (or cannot be read: then there is nothing to fill).
pub fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// Files already copied, by (device, inode): their other names become hard links (a
/// busybox `/bin` is one file under 400 names).
type Copied = HashMap<(u64, u64), PathBuf>;

/// Copies the tree under `from` into the (empty) directory `to`, and `from`'s own mode
/// and owner onto `to`. Special files are skipped (a volume holds data).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    copy_dir(from, to, &mut Copied::new())
}

fn copy_dir(from: &Path, to: &Path, copied: &mut Copied) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        copy_entry(&entry.path(), &to.join(entry.file_name()), copied)?;
    }
    apply_metadata(to, &meta)
}

fn copy_entry(from: &Path, to: &Path, copied: &mut Copied) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
        return std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    }
    if kind.is_dir() {
        fs::create_dir(to)?;
        copy_dir(from, to, copied)
    } else if kind.is_file() {
        if meta.nlink() > 1 {
            if let Some(first) = copied.get(&(meta.dev(), meta.ino())) {
                return fs::hard_link(first, to);
            }
            copied.insert((meta.dev(), meta.ino()), to.to_path_buf());
        }
        fs::copy(from, to)?;
        apply_metadata(to, &meta)
    } else {
        Ok(())
    }
}

fn apply_metadata(path: &Path, meta: &fs::Metadata) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid()))?;
    // After chown, which clears setuid bits.
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    let times = fs::FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    fs::File::open(path)?.set_times(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_copied_with_modes_links_and_times() {
        let base = std::env::temp_dir().join(format!("hull-copy-up-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (from, to) = (base.join("from"), base.join("to"));
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::create_dir_all(&to).unwrap();
        fs::write(from.join("sub/file"), "data").unwrap();
        fs::set_permissions(from.join("sub/file"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(&from, fs::Permissions::from_mode(0o711)).unwrap();
        std::os::unix::fs::symlink("sub/file", from.join("link")).unwrap();
        fs::hard_link(from.join("sub/file"), from.join("hard")).unwrap();
        assert!(is_empty_dir(&to));
        copy_tree(&from, &to).unwrap();
        assert!(!is_empty_dir(&to));
        assert_eq!(fs::read_to_string(to.join("link")).unwrap(), "data");
        assert_eq!(
            fs::read_link(to.join("link")).unwrap(),
            Path::new("sub/file")
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&to.join("sub/file")), 0o640);
        assert_eq!(mode(&to), 0o711);
        let inode = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(
            inode(&to.join("hard")),
            inode(&to.join("sub/file")),
            "a hard link stays one"
        );
        assert_eq!(
            fs::metadata(to.join("sub/file")).unwrap().mtime(),
            fs::metadata(from.join("sub/file")).unwrap().mtime()
        );
        fs::remove_dir_all(base).unwrap();
    }
}
