//! Random access to the members of an image archive: a directory (OCI layout) or a tar
//! (docker save, OCI layout tar; gzip/zstd-compressed tars are unpacked to the work dir
//! first). Member names are looked up, never used as paths outside the archive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::digest::{is_limit_exceeded, HashingReader};
use crate::error::{IoContext, Result, StoreError};
use crate::workdir::WorkDir;

/// Largest JSON document (manifest, index, config) read into memory.
const MAX_JSON_BYTES: u64 = 64 << 20;

pub(crate) enum Source {
    Dir(PathBuf),
    Tar {
        /// The tar on disk (the input, or its decompressed copy in the work dir).
        file: PathBuf,
        /// What the user gave, for messages.
        origin: PathBuf,
        /// Member name -> (data offset, size).
        members: HashMap<String, (u64, u64)>,
    },
}

impl Source {
    /// Opens `path`; `max_bytes` caps the decompressed size of a compressed archive.
    pub(crate) fn open(path: &Path, work: &WorkDir, max_bytes: u64) -> Result<Source> {
        let meta = std::fs::metadata(path).io("open image archive", path)?;
        if meta.is_dir() {
            return Ok(Source::Dir(path.to_owned()));
        }
        let mut file = BufReader::new(File::open(path).io("open image archive", path)?);
        let head = file.fill_buf().io("read", path)?.to_vec();
        let decoder: Option<Box<dyn Read>> = if head.starts_with(&[0x1f, 0x8b]) {
            Some(Box::new(flate2::bufread::MultiGzDecoder::new(file)))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Box::new(
                zstd::Decoder::with_buffer(file).io("decode zstd", path)?,
            ))
        } else {
            None
        };
        let tar_path = match decoder {
            Some(decoder) => {
                let plain = work.path().join("input.tar");
                let mut out = File::create(&plain).io("create", &plain)?;
                let (mut limited, _) = HashingReader::counting(decoder, max_bytes);
                io::copy(&mut limited, &mut out).map_err(|e| {
                    if is_limit_exceeded(&e) {
                        StoreError::LayerTooLarge {
                            layer: path.display().to_string(),
                            limit: max_bytes,
                        }
                    } else {
                        StoreError::Corrupt {
                            what: format!("image archive {}", path.display()),
                            source: e,
                        }
                    }
                })?;
                plain
            }
            None => path.to_owned(),
        };
        let members = index_tar(&tar_path, path)?;
        Ok(Source::Tar {
            file: tar_path,
            origin: path.to_owned(),
            members,
        })
    }

    pub(crate) fn origin(&self) -> &Path {
        match self {
            Source::Dir(dir) => dir,
            Source::Tar { origin, .. } => origin,
        }
    }

    pub(crate) fn bad(&self, reason: impl Into<String>) -> StoreError {
        StoreError::BadArchive {
            path: self.origin().to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => clean_member(name).is_some_and(|n| dir.join(n).is_file()),
            Source::Tar { members, .. } => {
                clean_member(name).is_some_and(|n| members.contains_key(&n))
            }
        }
    }

    /// A reader over member `name` and its size.
    pub(crate) fn open_member(&self, name: &str) -> Result<(Box<dyn Read>, u64)> {
        let clean = clean_member(name)
            .ok_or_else(|| self.bad(format!("member name {name:?} leaves the archive")))?;
        match self {
            Source::Dir(dir) => {
                let path = dir.join(&clean);
                let file = File::open(&path).map_err(|_| self.bad(format!("{name} is missing")))?;
                let size = file.metadata().io("inspect", &path)?.len();
                Ok((Box::new(file), size))
            }
            Source::Tar { file, members, .. } => {
                let &(offset, size) = members
                    .get(&clean)
                    .ok_or_else(|| self.bad(format!("{name} is missing")))?;
                let mut f = File::open(file).io("open", file)?;
                f.seek(SeekFrom::Start(offset)).io("seek in", file)?;
                Ok((Box::new(f.take(size)), size))
            }
        }
    }

    /// Member `name`'s own file, when the archive is a directory and it is a regular file.
    pub(crate) fn member_file(&self, name: &str) -> Option<PathBuf> {
        let Source::Dir(dir) = self else {
            return None;
        };
        let path = dir.join(clean_member(name)?);
        std::fs::symlink_metadata(&path)
            .is_ok_and(|meta| meta.is_file())
            .then_some(path)
    }

    /// Reads a small member (JSON) whole.
    pub(crate) fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (reader, size) = self.open_member(name)?;
        if size > MAX_JSON_BYTES {
            return Err(self.bad(format!(
                "{name} is {size} bytes; metadata is never that large"
            )));
        }
        let mut bytes = Vec::new();
        reader
            .take(MAX_JSON_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::Corrupt {
                what: format!("{name} in {}", self.origin().display()),
                source: e,
            })?;
        Ok(bytes)
    }
}

/// Lists the regular files of a tar with their data offsets.
fn index_tar(tar_path: &Path, origin: &Path) -> Result<HashMap<String, (u64, u64)>> {
    let corrupt = |e| StoreError::Corrupt {
        what: format!("image archive {}", origin.display()),
        source: e,
    };
    let mut archive = tar::Archive::new(File::open(tar_path).io("open", tar_path)?);
    let mut members = HashMap::new();
    for entry in archive.entries_with_seek().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            continue;
        }
        let path = entry.path().map_err(corrupt)?;
        if let Some(name) = path.to_str().and_then(clean_member) {
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
    }
    Ok(members)
}

/// `./a/b` -> `a/b`; `None` for names with `..` or that are absolute after `./` removal.
fn clean_member(name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_cannot_leave_the_archive() {
        assert_eq!(
            clean_member("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean_member("../etc/shadow"), None);
        assert_eq!(clean_member("/etc/shadow"), None);
        assert_eq!(clean_member("a/../../b"), None);
    }
}
