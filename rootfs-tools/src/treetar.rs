//! Packs a directory tree into a layer tar with exact owners, modes, times, hard links,
//! symlinks and device nodes, in sorted (reproducible) order. Used for debootstrap output.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Writes `root`'s contents (not `root` itself) as a tar to `out`.
pub(crate) fn tar_directory(root: &Path, out: &Path) -> Result<()> {
    let file = File::create(out).io("create", out)?;
    let mut packer = Packer {
        builder: tar::Builder::new(io::BufWriter::with_capacity(1 << 20, file)),
        links: HashMap::new(),
        root,
    };
    packer.dir(root, Path::new(""))?;
    let mut inner = packer.builder.into_inner().io("write", out)?;
    inner.flush().io("write", out)?;
    Ok(())
}

struct Packer<'a> {
    builder: tar::Builder<io::BufWriter<File>>,
    /// (dev, ino) of multiply-linked files already written -> their archive path.
    links: HashMap<(u64, u64), PathBuf>,
    root: &'a Path,
}

impl Packer<'_> {
    fn dir(&mut self, dir: &Path, rel: &Path) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .io("list", dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .io("list", dir)?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = rel.join(&name);
            let meta = fs::symlink_metadata(&path).io("inspect", &path)?;
            self.entry(&path, &rel, &meta).io("pack", &path)?;
            if meta.is_dir() {
                self.dir(&path, &rel)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &Path, meta: &fs::Metadata) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(u64::from(meta.uid()));
        header.set_gid(u64::from(meta.gid()));
        header.set_mtime(meta.mtime().max(0).unsigned_abs());
        header.set_size(0);
        let file_type = meta.file_type();
        if file_type.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            let mut name = rel.as_os_str().to_owned();
            name.push("/");
            self.builder.append_data(&mut header, name, io::empty())
        } else if file_type.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(path)?;
            self.builder.append_link(&mut header, rel, target)
        } else if file_type.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                    header.set_entry_type(tar::EntryType::Link);
                    let first = first.clone();
                    return self.builder.append_link(&mut header, rel, first);
                }
                self.links.insert((meta.dev(), meta.ino()), rel.to_owned());
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            self.builder
                .append_data(&mut header, rel, File::open(path)?)
        } else if file_type.is_char_device() || file_type.is_block_device() || file_type.is_fifo() {
            header.set_entry_type(if file_type.is_char_device() {
                tar::EntryType::Char
            } else if file_type.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            let rdev = meta.rdev();
            header.set_device_major(rustix::fs::major(rdev))?;
            header.set_device_minor(rustix::fs::minor(rdev))?;
            self.builder.append_data(&mut header, rel, io::empty())
        } else {
            tracing::debug!(path = %self.root.join(rel).display(), "skipping socket");
            Ok(())
        }
    }
}
