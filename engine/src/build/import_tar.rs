//! The tar a COPY or ADD sends into its build container: entries named from `/` (the guest
//! extracts it at the container's root, as `hull cp -a` does), the missing parent
//! directories first (root's, 0755, as Docker creates them), then the sources under their
//! destination names with the step's owner and mode. Existing directories are never in it,
//! so their owner and mode stay the image's.

use super::context::{Context, ContextSource};
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use tar::{EntryType, Header};

/// Who owns what a COPY writes, and the mode it forces (`--chown`, `--chmod`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ownership {
    /// uid, gid.
    pub owner: (u32, u32),
    /// `--chmod`: every entry's permission bits.
    pub chmod: Option<u32>,
}

/// A tar being written to a temporary file.
pub struct ImportTar {
    builder: tar::Builder<File>,
    written: BTreeSet<String>,
}

fn io_error(e: std::io::Error) -> Error {
    Error::Build(format!("cannot prepare the copy: {e}"))
}

/// `path` (absolute) as a tar entry name.
fn entry_name(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

impl ImportTar {
    /// An empty tar in a new temporary file.
    pub fn new() -> Result<Self> {
        let file = tempfile::tempfile().map_err(io_error)?;
        let mut builder = tar::Builder::new(file);
        builder.follow_symlinks(false);
        Ok(Self {
            builder,
            written: BTreeSet::new(),
        })
    }

    /// A directory entry at `path` (absolute), root's, 0755 (a missing parent).
    pub fn directory(&mut self, path: &str, ownership: Ownership) -> Result<()> {
        let name = entry_name(path);
        if name.is_empty() || !self.written.insert(name.clone()) {
            return Ok(());
        }
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Directory);
        header.set_mode(ownership.chmod.unwrap_or(0o755));
        header.set_uid(u64::from(ownership.owner.0));
        header.set_gid(u64::from(ownership.owner.1));
        header.set_size(0);
        header.set_mtime(now());
        self.builder
            .append_data(&mut header, format!("{name}/"), std::io::empty())
            .map_err(io_error)
    }

    /// The context `source` at `target` (absolute): a file or link as `target`, a
    /// directory's content under `target`.
    pub fn context_source(
        &mut self,
        context: &Context,
        source: &ContextSource,
        target: &str,
        ownership: Ownership,
    ) -> Result<()> {
        if !source.is_dir {
            return self.host_entry(&context.path(&source.relative), target, ownership);
        }
        self.directory(target, ownership)?;
        let prefix = if source.relative == "." {
            String::new()
        } else {
            format!("{}/", source.relative)
        };
        for (relative, _) in context.walk(&source.relative)? {
            let rest = relative.strip_prefix(&prefix).unwrap_or(&relative);
            let dest = format!("{}/{rest}", target.trim_end_matches('/'));
            self.host_entry(&context.path(&relative), &dest, ownership)?;
        }
        Ok(())
    }

    fn host_entry(
        &mut self,
        host: &std::path::Path,
        target: &str,
        ownership: Ownership,
    ) -> Result<()> {
        let meta = fs::symlink_metadata(host).map_err(io_error)?;
        let name = entry_name(target);
        if !self.written.insert(name.clone()) {
            return Ok(());
        }
        let mut header = Header::new_gnu();
        header.set_uid(u64::from(ownership.owner.0));
        header.set_gid(u64::from(ownership.owner.1));
        header.set_mode(
            ownership
                .chmod
                .unwrap_or(meta.permissions().mode() & 0o7777),
        );
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        let kind = meta.file_type();
        if kind.is_symlink() {
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            let link = fs::read_link(host).map_err(io_error)?;
            self.builder
                .append_link(&mut header, &name, link)
                .map_err(io_error)
        } else if kind.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            self.builder
                .append_data(&mut header, format!("{name}/"), std::io::empty())
                .map_err(io_error)
        } else if kind.is_file() {
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(host).map_err(io_error)?;
            self.builder
                .append_data(&mut header, &name, file.take(meta.len()))
                .map_err(io_error)
        } else {
            // Sockets, fifos and devices are not build content (Docker skips them too).
            Ok(())
        }
    }

    /// The entries of `archive` (a tar a build container exported, its top entry named
    /// after the source's last component) under `target`: a directory's content into
    /// `target`, a single file as `target`.
    pub fn exported(
        &mut self,
        archive: impl Read,
        source_is_dir: bool,
        target: &str,
        ownership: Ownership,
    ) -> Result<()> {
        let target = target.trim_end_matches('/');
        if source_is_dir {
            self.directory(target, ownership)?;
        }
        let mut archive = tar::Archive::new(archive);
        for entry in archive.entries().map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let path = entry
                .path()
                .map_err(io_error)?
                .to_string_lossy()
                .into_owned();
            let path = path.trim_end_matches('/');
            let rest = path.split_once('/').map(|(_, rest)| rest);
            let dest = match (source_is_dir, rest) {
                (true, None) => continue,
                (true, Some(rest)) => format!("{target}/{rest}"),
                (false, _) => target.to_string(),
            };
            if dest.split('/').any(|c| c == "..") {
                return Err(Error::Build(format!(
                    "the copied tree has a bad entry {path:?}"
                )));
            }
            let name = entry_name(&dest);
            if !self.written.insert(name.clone()) {
                continue;
            }
            let mut header = entry.header().clone();
            header.set_uid(u64::from(ownership.owner.0));
            header.set_gid(u64::from(ownership.owner.1));
            if let Some(mode) = ownership.chmod {
                header.set_mode(mode);
            }
            match header.entry_type() {
                EntryType::Symlink => {
                    let link = entry.link_name().map_err(io_error)?.unwrap_or_default();
                    self.builder
                        .append_link(&mut header, &name, link)
                        .map_err(io_error)?;
                }
                EntryType::Link => {
                    // A hard link names another entry of the same tree: renamed alike.
                    let link = entry.link_name().map_err(io_error)?.unwrap_or_default();
                    let link = link.to_string_lossy().into_owned();
                    let renamed = match link.split_once('/') {
                        Some((_, rest)) if source_is_dir => format!("{target}/{rest}"),
                        _ => target.to_string(),
                    };
                    self.builder
                        .append_link(&mut header, &name, entry_name(&renamed))
                        .map_err(io_error)?;
                }
                _ => {
                    self.builder
                        .append_data(&mut header, &name, entry)
                        .map_err(io_error)?;
                }
            }
        }
        Ok(())
    }

    /// The finished tar, rewound.
    pub fn finish(self) -> Result<File> {
        let mut file = self.builder.into_inner().map_err(io_error)?;
        file.rewind().map_err(io_error)?;
        Ok(file)
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(file: File) -> Vec<(String, u64, u32)> {
        tar::Archive::new(file)
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().uid().unwrap(),
                    e.header().mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_directory_source_lands_as_its_content_with_the_steps_owner() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src/sub")).unwrap();
        fs::write(dir.path().join("src/sub/f"), "x").unwrap();
        let context = Context::open(dir.path()).unwrap();
        let mut tar = ImportTar::new().unwrap();
        let ownership = Ownership {
            owner: (7, 8),
            chmod: None,
        };
        tar.directory("/app", Ownership::default()).unwrap();
        let source = ContextSource {
            relative: "src".into(),
            is_dir: true,
        };
        tar.context_source(&context, &source, "/app/code", ownership)
            .unwrap();
        let entries = names(tar.finish().unwrap());
        let paths: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            paths,
            ["app/", "app/code/", "app/code/sub/", "app/code/sub/f"]
        );
        assert_eq!(entries[3].1, 7);
    }

    #[test]
    fn an_exported_tree_is_renamed_and_chmodded() {
        let mut source = tar::Builder::new(Vec::new());
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o700);
        source
            .append_data(&mut header, "bin/", std::io::empty())
            .unwrap();
        let mut header = Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o600);
        source
            .append_data(&mut header, "bin/tool", &b"hi"[..])
            .unwrap();
        let bytes = source.into_inner().unwrap();
        let mut tar = ImportTar::new().unwrap();
        let ownership = Ownership {
            owner: (0, 0),
            chmod: Some(0o755),
        };
        tar.exported(&bytes[..], true, "/usr/local/bin", ownership)
            .unwrap();
        let entries = names(tar.finish().unwrap());
        assert_eq!(entries[1].0, "usr/local/bin/tool");
        assert_eq!(entries[1].2, 0o755);
    }
}
