//! The container's changes, read from the overlay's upper directory in PID 1's own mount
//! namespace (the container's root hides it): `hull diff` (a list) and `hull commit` (a
//! tar with OCI whiteouts). Only the guest reads the guest-written filesystem; the host
//! gets a list or a tar, both checked again there.
//!
//! overlayfs marks a deleted file with a 0:0 character device and a directory that
//! replaced a lower one with the `trusted.overlay.opaque` xattr; OCI layers say the same
//! with `.wh.NAME` files and `.wh..wh..opq`.

use std::ffi::CString;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The upper directory and the lower ones (the image's layers) of `layout`.
pub fn overlay_dirs(layout: &crate::rootfs::Layout) -> (PathBuf, Vec<PathBuf>) {
    let mut lowers: Vec<PathBuf> = (0..)
        .map(|index| layout.layer(index))
        .take_while(|dir| dir.is_dir())
        .collect();
    if lowers.is_empty() {
        lowers.push(layout.empty_lower());
    }
    (layout.writable().join("upper"), lowers)
}

/// Runs [`ArchiveRequest::Changes`] or [`ArchiveRequest::ExportChanges`] on `layout`.
pub fn run(
    request: &hull_protocol::ArchiveRequest,
    layout: &crate::rootfs::Layout,
    mut output: impl Write,
) -> io::Result<()> {
    let (upper, lowers) = overlay_dirs(layout);
    match request {
        hull_protocol::ArchiveRequest::ExportChanges { since_last, .. } => {
            let record = layout.writable().join(SNAPSHOT_FILE);
            let previous = since_last.then(|| Snapshot::load(&record)).flatten();
            let seen = export(&upper, output, previous.as_ref())?;
            seen.save(&record)
        }
        _ => {
            for change in changes(&upper, &lowers)? {
                let mut line = serde_json::to_vec(&change).map_err(io::Error::other)?;
                line.push(b'\n');
                output.write_all(&line)?;
            }
            output.flush()
        }
    }
}

/// Files hull-init itself writes into every container (Docker bind-mounts them): never a
/// change of the container's.
const HULL_WRITTEN: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

pub use hull_protocol::ContainerChange as Change;

fn is_hull_written(relative: &Path) -> bool {
    HULL_WRITTEN.iter().any(|w| relative == Path::new(w))
}

/// How an entry of the upper directory reads.
enum Entry {
    /// A whiteout: the path was deleted.
    Whiteout,
    /// A directory that hides the lower one's content.
    OpaqueDir,
    /// Anything else, added or changed.
    Plain,
}

fn classify(path: &Path, meta: &fs::Metadata) -> Entry {
    if meta.file_type().is_char_device() && meta.rdev() == 0 {
        Entry::Whiteout
    } else if meta.is_dir() && is_opaque(path) {
        Entry::OpaqueDir
    } else {
        Entry::Plain
    }
}

fn is_opaque(path: &Path) -> bool {
    let (Ok(path), Ok(name)) = (
        CString::new(path.as_os_str().as_bytes()),
        CString::new("trusted.overlay.opaque"),
    ) else {
        return false;
    };
    let mut value = [0u8; 1];
    // SAFETY: both strings are NUL-terminated and live across the call; the buffer is
    // valid for its length, which is what the call may write.
    let read = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    read == 1 && value[0] == b'y'
}

/// Every entry under `upper`, relative paths, parents before children, sorted.
fn walk(upper: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let mut names: Vec<_> = fs::read_dir(upper.join(&dir))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for name in names.into_iter().rev() {
            let relative = dir.join(name);
            if fs::symlink_metadata(upper.join(&relative))?.is_dir() {
                pending.push(relative.clone());
            }
            found.push(relative);
        }
    }
    found.sort();
    Ok(found)
}

/// The container's changes: `upper` against the `lowers` (the image's layers).
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let mut list = Vec::new();
    for relative in walk(upper)? {
        if is_hull_written(&relative) {
            continue;
        }
        let full = upper.join(&relative);
        let meta = fs::symlink_metadata(&full)?;
        let in_lower = lowers
            .iter()
            .any(|lower| fs::symlink_metadata(lower.join(&relative)).is_ok());
        let kind = match classify(&full, &meta) {
            Entry::Whiteout => 'D',
            _ if in_lower => 'C',
            _ => 'A',
        };
        list.push(Change {
            kind,
            path: format!("/{}", relative.display()),
        });
    }
    // A directory that only holds hull's own files (/etc) is no change of the container's.
    let kept: Vec<Change> = list
        .iter()
        .filter(|change| {
            change.kind != 'C'
                || !is_dir_in(upper, &change.path)
                || list.iter().any(|other| is_below(&other.path, &change.path))
        })
        .cloned()
        .collect();
    Ok(kept)
}

fn is_dir_in(upper: &Path, path: &str) -> bool {
    fs::symlink_metadata(upper.join(path.trim_start_matches('/'))).is_ok_and(|m| m.is_dir())
}

fn is_below(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Where the last export's [`Snapshot`] is kept: on the writable disk, beside (not in)
/// the upper directory, so it is never a change itself.
const SNAPSHOT_FILE: &str = "export-snapshot.json";

/// What an export saw: each upper entry's metadata signature (inode, type and mode,
/// owner, size, mtime, ctime, device, opaque), by relative path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot(std::collections::BTreeMap<String, [u64; 10]>);

impl Snapshot {
    fn load(path: &Path) -> Option<Self> {
        serde_json::from_slice(&fs::read(path).ok()?).ok().map(Self)
    }

    fn save(&self, path: &Path) -> io::Result<()> {
        let staging = path.with_extension("new");
        fs::write(
            &staging,
            serde_json::to_vec(&self.0).map_err(io::Error::other)?,
        )?;
        fs::rename(&staging, path)
    }
}

fn signature(meta: &fs::Metadata, opaque: bool) -> [u64; 10] {
    let signed = |n: i64| u64::from_ne_bytes(n.to_ne_bytes());
    [
        meta.ino(),
        u64::from(meta.mode()),
        u64::from(meta.uid()) << 32 | u64::from(meta.gid()),
        meta.size(),
        signed(meta.mtime()),
        signed(meta.mtime_nsec()),
        signed(meta.ctime()),
        signed(meta.ctime_nsec()),
        meta.rdev(),
        u64::from(opaque),
    ]
}

/// A tar of the changes in `upper` as an OCI layer: whiteouts as `.wh.` files, opaque
/// directories with `.wh..wh..opq`; hull's own files left out. With `since` (the previous
/// export's snapshot), only what changed since then: changed or new entries, everything
/// under a directory that became opaque, whiteouts for entries that went away, and the
/// parent directories of all of them. Returns what it saw.
pub fn export(upper: &Path, output: impl Write, since: Option<&Snapshot>) -> io::Result<Snapshot> {
    let mut builder = tar::Builder::new(BufWriter::with_capacity(64 * 1024, output));
    builder.follow_symlinks(false);
    let mut seen = Snapshot::default();
    let mut emitted: std::collections::BTreeSet<PathBuf> = Default::default();
    let mut forced: Vec<PathBuf> = Vec::new();
    for relative in walk(upper)? {
        if is_hull_written(&relative) {
            continue;
        }
        let full = upper.join(&relative);
        let meta = fs::symlink_metadata(&full)?;
        let entry = classify(&full, &meta);
        let key = relative.to_string_lossy().into_owned();
        let sig = signature(&meta, matches!(entry, Entry::OpaqueDir));
        let changed = since.is_none_or(|s| s.0.get(&key) != Some(&sig));
        seen.0.insert(key, sig);
        let under_forced = forced.iter().any(|dir| relative.starts_with(dir));
        if !changed && !under_forced {
            continue;
        }
        append_parents(&mut builder, upper, &relative, &mut emitted)?;
        match entry {
            Entry::Whiteout => {
                let name = relative.file_name().unwrap_or_default().to_string_lossy();
                let marker = relative.with_file_name(format!(".wh.{name}"));
                append_empty(&mut builder, &marker, &meta)?;
            }
            Entry::OpaqueDir => {
                builder.append_path_with_name(&full, &relative)?;
                append_empty(&mut builder, &relative.join(".wh..wh..opq"), &meta)?;
                // The marker hides the layers below, the previous steps' included.
                forced.push(relative.clone());
            }
            Entry::Plain => builder.append_path_with_name(&full, &relative)?,
        }
        emitted.insert(relative);
    }
    if let Some(since) = since {
        // Gone since the last export (an entry only the upper directory had): a whiteout,
        // unless a parent went too (its whiteout covers it).
        for gone in since.0.keys().filter(|k| !seen.0.contains_key(*k)) {
            let gone = Path::new(gone);
            let parent_gone = gone
                .ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .any(|a| !seen.0.contains_key(&*a.to_string_lossy()));
            if parent_gone {
                continue;
            }
            append_parents(&mut builder, upper, gone, &mut emitted)?;
            let name = gone.file_name().unwrap_or_default().to_string_lossy();
            let like = fs::symlink_metadata(upper)?;
            append_empty(
                &mut builder,
                &gone.with_file_name(format!(".wh.{name}")),
                &like,
            )?;
        }
    }
    builder.into_inner()?.flush()?;
    Ok(seen)
}

/// The parent directories of `relative` not in the tar yet, as the upper directory has
/// them (a layer without them would give them default owners and modes).
fn append_parents<W: Write>(
    builder: &mut tar::Builder<W>,
    upper: &Path,
    relative: &Path,
    emitted: &mut std::collections::BTreeSet<PathBuf>,
) -> io::Result<()> {
    let parents: Vec<&Path> = relative
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .collect();
    for parent in parents.into_iter().rev() {
        if emitted.insert(parent.to_path_buf()) {
            builder.append_path_with_name(upper.join(parent), parent)?;
        }
    }
    Ok(())
}

/// An empty regular file entry named `path` (a whiteout marker).
fn append_empty<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    like: &fs::Metadata,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(u64::try_from(like.mtime()).unwrap_or(0));
    builder.append_data(&mut header, path, io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        let upper = dir.path().join("upper");
        for d in ["etc", "tmp", "bin"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        fs::write(lower.join("etc/passwd"), "root\n").unwrap();
        fs::write(lower.join("bin/gone"), "x").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("tmp/new")).unwrap();
        fs::write(upper.join("etc/passwd"), "root\nu\n").unwrap();
        fs::write(upper.join("etc/hosts"), "hull's\n").unwrap();
        fs::write(upper.join("tmp/new/file"), "hi").unwrap();
        (dir, lower, upper)
    }

    /// The export of `upper`: its bytes and its entry names.
    fn exported(upper: &Path) -> (Vec<u8>, Vec<String>) {
        let (bytes, names, _) = exported_since(upper, None);
        (bytes, names)
    }

    fn exported_since(upper: &Path, since: Option<&Snapshot>) -> (Vec<u8>, Vec<String>, Snapshot) {
        let mut tar_bytes = Vec::new();
        let seen = export(upper, &mut tar_bytes, since).unwrap();
        let names = tar::Archive::new(&tar_bytes[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        (tar_bytes, names, seen)
    }

    #[test]
    fn an_export_since_the_last_holds_only_that_steps_changes() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        for d in ["a", "kept/deep"] {
            fs::create_dir_all(upper.join(d)).unwrap();
        }
        fs::write(upper.join("a/x"), "1").unwrap();
        fs::write(upper.join("kept/deep/y"), "y").unwrap();
        fs::create_dir_all(upper.join("gone/sub")).unwrap();
        fs::write(upper.join("gone/sub/z"), "z").unwrap();
        fs::write(upper.join("b"), "b").unwrap();
        let (_, first, snapshot) = exported_since(&upper, None);
        assert!(first.contains(&"kept/deep/y".to_string()), "{first:?}");
        // The next step: a file changed, one added, a file and a tree removed.
        fs::write(upper.join("a/x"), "2").unwrap();
        fs::write(upper.join("c"), "c").unwrap();
        fs::remove_file(upper.join("b")).unwrap();
        fs::remove_dir_all(upper.join("gone")).unwrap();
        let (_, second, _) = exported_since(&upper, Some(&snapshot));
        assert_eq!(second, ["a", "a/x", "c", ".wh.b", ".wh.gone"], "{second:?}");
    }

    #[test]
    fn added_changed_and_hull_written_files_read_as_docker_diff() {
        let (_dir, lower, upper) = tree();
        let list: Vec<String> = changes(&upper, &[lower])
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind, c.path))
            .collect();
        assert_eq!(
            list,
            [
                "C /etc",
                "C /etc/passwd",
                "C /tmp",
                "A /tmp/new",
                "A /tmp/new/file"
            ]
        );
    }

    #[test]
    fn a_whiteout_is_a_deletion_and_an_oci_whiteout_in_the_layer() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: making an overlay whiteout (a 0:0 char device) needs root");
            return;
        }
        let (_dir, lower, upper) = tree();
        fs::create_dir_all(upper.join("bin")).unwrap();
        nix::sys::stat::mknod(
            &upper.join("bin/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o000),
            0,
        )
        .unwrap();
        let list = changes(&upper, &[lower]).unwrap();
        assert!(
            list.contains(&Change {
                kind: 'D',
                path: "/bin/gone".into()
            }),
            "{list:?}"
        );
        assert!(
            list.contains(&Change {
                kind: 'C',
                path: "/bin".into()
            }),
            "{list:?}"
        );
        let (tar_bytes, names) = exported(&upper);
        assert!(names.contains(&"bin/.wh.gone".to_string()), "{names:?}");
        // Every header field is filled (a strict reader refuses an empty uid).
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            entry.header().uid().unwrap();
            entry.header().gid().unwrap();
        }
        assert!(!names.contains(&"bin/gone".to_string()), "{names:?}");
    }

    #[test]
    fn a_directory_with_only_hulls_files_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let (lower, upper) = (dir.path().join("l"), dir.path().join("u"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/resolv.conf"), "x").unwrap();
        assert!(changes(&upper, &[lower]).unwrap().is_empty());
    }

    #[test]
    fn the_export_is_a_layer_without_hulls_files() {
        let (_dir, _lower, upper) = tree();
        let (_, names) = exported(&upper);
        assert!(names.contains(&"etc/passwd".to_string()), "{names:?}");
        assert!(names.contains(&"tmp/new/file".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("hosts")), "{names:?}");
    }
}
