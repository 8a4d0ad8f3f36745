//! Applies one layer tarball to an empty staging directory, safely and exactly.
//!
//! Safety rules (a layer is hostile input):
//! * entry names must be relative and free of `..`: anything else is rejected, not rewritten;
//! * no entry is ever created *through* a symlink: every parent component must be a real
//!   directory inside the staging dir, and an existing file at the target is unlinked (never
//!   opened) before the new one is created with `O_NOFOLLOW | O_EXCL`;
//! * hard links may only point at non-directories created earlier in this same layer;
//! * device nodes and fifos are created with mknod as plain data of the image (nothing here
//!   ever opens them); they only come alive inside the guest;
//! * the total size of file contents is capped (`max_bytes`), checked against each entry's
//!   declared size *before* writing, so a 10 GB sparse entry fails at once; the entry count is
//!   capped too;
//! * `trusted.overlay.*` / `user.overlay.*` xattrs from the tarball are dropped, so a layer
//!   cannot forge overlayfs metadata; the only ones set are hull's own whiteout translations.
//!
//! OCI whiteouts become overlayfs whiteouts: `.wh.NAME` -> character device 0/0 named NAME,
//! `.wh..wh..opq` -> xattr `trusted.overlay.opaque=y` on its directory.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags, CWD};
use tar::EntryType;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::remove_any;
use crate::layer_entry::{
    clean_path, EntryHead, LayerContext, Meta, Whiteout, OVERLAY_OPAQUE_XATTR,
};
pub(crate) use crate::layer_entry::{ApplyLimits, ApplyStats};

/// Applies the tar stream `reader` into `root` (an existing, empty directory). Returns the
/// reader (so the caller can drain and hash the rest) and what was applied.
pub(crate) fn apply_layer<R: Read>(
    reader: R,
    root: &Path,
    layer: &str,
    limits: ApplyLimits,
) -> Result<(R, ApplyStats)> {
    apply(reader, root, layer, limits, None)
}

/// Applies the tar stream `reader` over `root`, which holds the layers below it already
/// applied (a squash of several layers into one): an opaque directory loses what the
/// layers below put in it, as overlayfs would hide it.
pub(crate) fn apply_layer_over<R: Read>(
    reader: R,
    root: &Path,
    layer: &str,
    limits: ApplyLimits,
) -> Result<(R, ApplyStats)> {
    apply(reader, root, layer, limits, Some(HashSet::new()))
}

fn apply<R: Read>(
    reader: R,
    root: &Path,
    layer: &str,
    limits: ApplyLimits,
    written: Option<HashSet<PathBuf>>,
) -> Result<(R, ApplyStats)> {
    let mut applier = Applier {
        root,
        cx: LayerContext { layer, limits },
        stats: ApplyStats::default(),
        dirs: Vec::new(),
        written,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| applier.cx.stream_error(e))?;
    for entry in entries {
        let entry = entry.map_err(|e| applier.cx.stream_error(e))?;
        applier.apply_entry(entry)?;
    }
    applier.finish_dirs()?;
    let stats = applier.stats;
    Ok((archive.into_inner(), stats))
}

struct Applier<'a> {
    root: &'a Path,
    cx: LayerContext<'a>,
    stats: ApplyStats,
    /// Directories whose mode and times are set last: creating children changes their mtime.
    dirs: Vec<(PathBuf, Meta)>,
    /// Over lower layers (a squash): the paths this layer wrote, which an opaque marker of
    /// their directory keeps.
    written: Option<HashSet<PathBuf>>,
}

impl Applier<'_> {
    fn apply_entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        self.stats.entries += 1;
        let Some(EntryHead {
            raw,
            rel,
            kind,
            meta,
        }) = self.cx.entry_head(&mut entry, self.stats.entries)?
        else {
            return Ok(());
        };
        let path = self.prepare_parents(&rel, &raw)?;
        if let Some(written) = self.written.as_mut() {
            written.insert(path.clone());
        }

        let name = rel.file_name().map_or(&[][..], OsStr::as_bytes);
        match self.cx.whiteout(name, &raw)? {
            Some(Whiteout::Opaque) => {
                let dir = path.parent().unwrap_or(self.root);
                self.clear_lower_children(dir)?;
                return rustix::fs::lsetxattr(dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| self.privileged("set the opaque xattr", dir, e));
            }
            Some(Whiteout::Hides(hidden)) => {
                let target = path.with_file_name(OsStr::from_bytes(hidden));
                remove_any(&target)?;
                return self.mknod(&target, FileType::CharacterDevice, 0, 0, 0);
            }
            Some(Whiteout::Ignored) => return Ok(()),
            None => {}
        }

        match kind {
            EntryType::Directory => {
                // An existing directory is kept (its children stay); anything else is replaced.
                if !rel.as_os_str().is_empty() && !is_real_dir(&path) {
                    let over_whiteout = self.written.is_some() && is_whiteout(&path);
                    remove_any(&path)?;
                    fs::create_dir(&path).io("create directory", &path)?;
                    if over_whiteout {
                        // Squashed over a deletion: the layers below must not show through.
                        rustix::fs::lsetxattr(
                            &path,
                            OVERLAY_OPAQUE_XATTR,
                            b"y",
                            XattrFlags::empty(),
                        )
                        .map_err(|e| self.privileged("set the opaque xattr", &path, e))?;
                    }
                }
                self.dirs.push((path, meta));
                return Ok(());
            }
            _ if rel.as_os_str().is_empty() => {
                return Err(self.cx.reject(&raw, "the layer root must be a directory"));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                remove_any(&path)?;
                let file = self.write_file(&mut entry, &path, &raw)?;
                // Through the open descriptor: no path lookups, nothing to race.
                return self.set_file_meta(&file, &path, &meta);
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.cx.stream_error(e))?
                    .ok_or_else(|| self.cx.reject(&raw, "symlink without a target"))?;
                remove_any(&path)?;
                // The target is stored as data; it is never followed on the host.
                std::os::unix::fs::symlink(&target, &path).io("create symlink", &path)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.cx.stream_error(e))?
                    .ok_or_else(|| self.cx.reject(&raw, "hard link without a target"))?
                    .into_owned();
                return self.hard_link(&target, &path, &raw);
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                let file_type = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                remove_any(&path)?;
                self.mknod(&path, file_type, meta.mode & 0o7777, major, minor)?;
            }
            other => {
                return Err(self
                    .cx
                    .reject(&raw, format!("unsupported tar entry type {other:?}")));
            }
        }
        self.set_meta(&path, &meta, kind == EntryType::Symlink)
    }

    /// Over lower layers, removes what they put in `dir` (an opaque directory of this one).
    fn clear_lower_children(&self, dir: &Path) -> Result<()> {
        let Some(written) = &self.written else {
            return Ok(());
        };
        if !is_real_dir(dir) {
            return Ok(());
        }
        for entry in fs::read_dir(dir).io("list", dir)? {
            let child = entry.io("list", dir)?.path();
            if !written.contains(&child) {
                remove_any(&child)?;
            }
        }
        Ok(())
    }

    /// Makes every parent of `rel` a real directory inside the root (creating missing ones);
    /// refuses symlinks and non-directories on the way. Returns the entry's host path.
    fn prepare_parents(&self, rel: &Path, raw: &Path) -> Result<PathBuf> {
        let mut current = self.root.to_path_buf();
        if let Some(parent) = rel.parent() {
            for component in parent.components() {
                current.push(component);
                match fs::symlink_metadata(&current) {
                    Ok(m) if m.is_dir() => {}
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(self.cx.reject(
                            raw,
                            format!(
                                "its parent {:?} is a symlink; hull never writes through symlinks",
                                current.strip_prefix(self.root).unwrap_or(&current)
                            ),
                        ));
                    }
                    Ok(_) => return Err(self.cx.reject(raw, "a parent is not a directory")),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        fs::create_dir(&current).io("create directory", &current)?;
                        fs::set_permissions(&current, fs::Permissions::from_mode(0o755))
                            .io("set mode of", &current)?;
                    }
                    Err(e) => return Err(e).io("inspect", &current),
                }
            }
        }
        Ok(self.root.join(rel))
    }

    /// Writes a regular file's content, leaving holes for all-zero blocks.
    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
        raw: &Path,
    ) -> Result<File> {
        let size = entry.size();
        self.cx.check_budget(self.stats.content_bytes, size)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc_o_nofollow())
            .mode(0o600)
            .open(path)
            .io("create", path)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = read_full(entry, &mut buf).map_err(|e| self.cx.stream_error(e))?;
            if n == 0 {
                break;
            }
            if buf[..n].iter().all(|&b| b == 0) {
                file.seek(SeekFrom::Current(i64::try_from(n).unwrap_or(i64::MAX)))
                    .io("seek in", path)?;
            } else {
                file.write_all(&buf[..n]).io("write", path)?;
            }
            written += n as u64;
            if written > size {
                return Err(self.cx.reject(raw, "content longer than its header says"));
            }
        }
        file.set_len(written).io("set length of", path)?;
        self.stats.content_bytes += written;
        Ok(file)
    }

    /// [`Self::set_meta`] for a regular file we hold open.
    fn set_file_meta(&self, file: &File, path: &Path, meta: &Meta) -> Result<()> {
        rustix::fs::fchown(
            file,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
        )
        .map_err(|e| self.privileged("chown", path, e))?;
        // After chown, which clears set-id bits.
        rustix::fs::fchmod(file, Mode::from_raw_mode(meta.mode & 0o7777))
            .io("set mode of", path)?;
        for (name, value) in &meta.xattrs {
            rustix::fs::fsetxattr(file, name.as_str(), value, XattrFlags::empty())
                .map_err(|e| self.privileged("set xattr", path, e))?;
        }
        let times = Timestamps {
            last_access: meta.mtime,
            last_modification: meta.mtime,
        };
        rustix::fs::futimens(file, &times).io("set times of", path)
    }

    fn hard_link(&self, target: &Path, path: &Path, raw: &Path) -> Result<()> {
        let target_rel = clean_path(target)
            .map_err(|reason| self.cx.reject(raw, format!("hard link target: {reason}")))?;
        let mut current = self.root.to_path_buf();
        let mut components = target_rel.components().peekable();
        while let Some(component) = components.next() {
            current.push(component);
            let meta = fs::symlink_metadata(&current).map_err(|_| {
                self.cx.reject(
                    raw,
                    format!("hard link target {:?} is not in this layer", target_rel),
                )
            })?;
            let last = components.peek().is_none();
            if !last && !meta.is_dir() {
                return Err(self.cx.reject(
                    raw,
                    "hard link target goes through a symlink or non-directory",
                ));
            }
            if last && meta.is_dir() {
                return Err(self.cx.reject(raw, "hard link to a directory"));
            }
        }
        if target_rel.as_os_str().is_empty() {
            return Err(self.cx.reject(raw, "hard link to the layer root"));
        }
        if current == path {
            return Ok(());
        }
        remove_any(path)?;
        // linkat without AT_SYMLINK_FOLLOW: a symlink target is linked itself, never followed.
        fs::hard_link(&current, path).io("create hard link", path)
    }

    fn mknod(
        &self,
        path: &Path,
        file_type: FileType,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<()> {
        let dev = rustix::fs::makedev(major, minor);
        rustix::fs::mknodat(CWD, path, file_type, Mode::from_raw_mode(perm), dev)
            .map_err(|e| self.privileged("create device node", path, e))
    }

    fn privileged(&self, what: &str, path: &Path, e: rustix::io::Errno) -> StoreError {
        if e == rustix::io::Errno::PERM {
            StoreError::NeedsRoot {
                what: format!(
                    "converting layer {} ({what} {})",
                    self.cx.layer,
                    path.display()
                ),
            }
        } else {
            StoreError::Io {
                action: "set up",
                path: path.to_owned(),
                source: e.into(),
            }
        }
    }

    fn set_meta(&self, path: &Path, meta: &Meta, is_symlink: bool) -> Result<()> {
        rustix::fs::chownat(
            CWD,
            path,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.privileged("chown", path, e))?;
        if !is_symlink {
            // After chown, which clears set-id bits. `path` is not a symlink: chmod is safe.
            rustix::fs::chmodat(
                CWD,
                path,
                Mode::from_raw_mode(meta.mode & 0o7777),
                AtFlags::empty(),
            )
            .io("set mode of", path)?;
        }
        for (name, value) in &meta.xattrs {
            if is_symlink && name.starts_with("user.") {
                continue; // Linux forbids user.* xattrs on symlinks.
            }
            rustix::fs::lsetxattr(path, name.as_str(), value, XattrFlags::empty())
                .map_err(|e| self.privileged("set xattr", path, e))?;
        }
        let times = Timestamps {
            last_access: meta.mtime,
            last_modification: meta.mtime,
        };
        rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).io("set times of", path)
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        if !dirs.iter().any(|(path, _)| path == self.root) {
            // No `./` entry: give the root fixed metadata so equal layers give equal images.
            let root_meta = Meta {
                uid: 0,
                gid: 0,
                mode: 0o755,
                mtime: Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                xattrs: Vec::new(),
            };
            dirs.insert(0, (self.root.to_path_buf(), root_meta));
        }
        for (path, meta) in dirs.iter().rev() {
            self.set_meta(path, meta, false)?;
        }
        Ok(())
    }
}

/// `O_NOFOLLOW`, so creating a file never follows a symlink that appeared at its path.
fn libc_o_nofollow() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// An overlayfs whiteout: a 0/0 character device.
fn is_whiteout(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Reads until `buf` is full or EOF (so zero-block detection sees whole blocks).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(1_700_000_000);
            match content {
                Some(bytes) => {
                    header.set_entry_type(EntryType::Regular);
                    header.set_mode(0o644);
                    header.set_size(bytes.len() as u64);
                    builder.append_data(&mut header, name, *bytes).unwrap();
                }
                None => {
                    header.set_entry_type(EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    builder.append_data(&mut header, name, &[][..]).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn layers_squash_as_overlayfs_stacks_them() {
        // mknod and trusted.* xattrs need root (as every layer conversion does).
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED layers_squash_as_overlayfs_stacks_them: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let limits = ApplyLimits {
            max_bytes: 1 << 20,
            max_entries: 100,
        };
        let bottom = layer(&[
            ("a/", None),
            ("a/x", Some(b"x")),
            ("a/y", Some(b"y")),
            ("b", Some(b"b")),
            ("c/", None),
            ("c/keep", Some(b"k")),
        ]);
        let top = layer(&[
            ("a/", None),
            ("a/z", Some(b"z")),
            ("a/.wh..wh..opq", Some(b"")),
            (".wh.b", Some(b"")),
            ("c/new", Some(b"n")),
        ]);
        apply_layer_over(&bottom[..], dir.path(), "bottom", limits).unwrap();
        apply_layer_over(&top[..], dir.path(), "top", limits).unwrap();
        let root = dir.path();
        assert!(
            root.join("a/z").is_file(),
            "written by the opaque layer itself"
        );
        assert!(!root.join("a/x").exists() && !root.join("a/y").exists());
        let whiteout = fs::symlink_metadata(root.join("b")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &whiteout.file_type()
        ));
        assert!(root.join("c/keep").is_file() && root.join("c/new").is_file());
        // A directory over a whiteout of the layers squashed before it hides what lies below.
        let again = layer(&[("b/", None), ("b/inner", Some(b"i"))]);
        apply_layer_over(&again[..], dir.path(), "again", limits).unwrap();
        let mut value = [0u8; 1];
        let read = rustix::fs::lgetxattr(root.join("b"), OVERLAY_OPAQUE_XATTR, &mut value).unwrap();
        assert_eq!(&value[..read], b"y");
    }
}
