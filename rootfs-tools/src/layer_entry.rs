//! What both ways of turning a layer tarball into an image share: the checks of one entry
//! (name, owner, mode, times, xattrs) and the errors that name the layer.

use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use rustix::fs::Timespec;

use crate::digest::is_limit_exceeded;
use crate::error::{Result, StoreError};

/// Prefix of OCI whiteout file names.
const WHITEOUT_PREFIX: &str = ".wh.";
/// OCI opaque-directory marker.
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to treat a lower directory as opaque.
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Caps against decompression bombs and inode floods.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApplyLimits {
    /// Maximum total bytes of file content in one layer.
    pub(crate) max_bytes: u64,
    /// Maximum number of tar entries in one layer.
    pub(crate) max_entries: u64,
}

/// What one layer contained.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ApplyStats {
    pub(crate) entries: u64,
    pub(crate) content_bytes: u64,
}

/// Ownership, mode, times and xattrs of one entry.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
    pub(crate) mtime: Timespec,
    pub(crate) xattrs: Vec<(String, Vec<u8>)>,
}

/// The layer being read and its budgets, for checks and error messages.
pub(crate) struct LayerContext<'a> {
    pub(crate) layer: &'a str,
    pub(crate) limits: ApplyLimits,
}

/// One layer entry's checked name, type and metadata.
pub(crate) struct EntryHead {
    /// The name as the tar has it (for messages).
    pub(crate) raw: PathBuf,
    /// The clean relative path.
    pub(crate) rel: PathBuf,
    pub(crate) kind: tar::EntryType,
    pub(crate) meta: Meta,
}

/// What an entry's name means to overlayfs.
pub(crate) enum Whiteout<'n> {
    /// `.wh..wh..opq`: its directory hides what lower layers put there.
    Opaque,
    /// `.wh.NAME`: NAME is deleted.
    Hides(&'n [u8]),
    /// aufs bookkeeping (`.wh..wh.plnk` etc.): no meaning for overlayfs.
    Ignored,
}

impl LayerContext<'_> {
    /// The checked head of the `count`th entry of a layer (refused past the entry budget):
    /// its names, type and metadata; `None` for an entry that only carries metadata for the
    /// next one (the `tar` crate applies it).
    pub(crate) fn entry_head<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        count: u64,
    ) -> Result<Option<EntryHead>> {
        let raw = entry.path().map_err(|e| self.stream_error(e))?.into_owned();
        if count > self.limits.max_entries {
            let limit = self.limits.max_entries;
            return Err(self.reject(&raw, format!("more than {limit} entries")));
        }
        let kind = entry.header().entry_type();
        if is_metadata_entry(kind) {
            return Ok(None);
        }
        let rel = clean_path(&raw).map_err(|reason| self.reject(&raw, reason))?;
        let meta = self.read_meta(entry, &raw)?;
        Ok(Some(EntryHead {
            raw,
            rel,
            kind,
            meta,
        }))
    }

    /// Refuses a file of `size` bytes when `used` bytes of the budget are gone: checked
    /// before anything is read, so a 10 GB sparse entry fails at once.
    pub(crate) fn check_budget(&self, used: u64, size: u64) -> Result<()> {
        if size > self.limits.max_bytes.saturating_sub(used) {
            return Err(StoreError::LayerTooLarge {
                layer: self.layer.to_owned(),
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    /// The overlayfs meaning of entry name `name`, `None` for an ordinary name.
    pub(crate) fn whiteout<'n>(&self, name: &'n [u8], raw: &Path) -> Result<Option<Whiteout<'n>>> {
        if name == OPAQUE_MARKER.as_bytes() {
            return Ok(Some(Whiteout::Opaque));
        }
        let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) else {
            return Ok(None);
        };
        if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return Ok(Some(Whiteout::Ignored));
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(self.reject(raw, "malformed whiteout name"));
        }
        Ok(Some(Whiteout::Hides(hidden)))
    }

    pub(crate) fn reject(&self, entry: &Path, reason: impl Into<String>) -> StoreError {
        StoreError::UnsafeLayerEntry {
            layer: self.layer.to_owned(),
            entry: entry.display().to_string(),
            reason: reason.into(),
        }
    }

    /// Maps an error from the tar/decompression stream.
    pub(crate) fn stream_error(&self, e: io::Error) -> StoreError {
        if is_limit_exceeded(&e) {
            StoreError::LayerTooLarge {
                layer: self.layer.to_owned(),
                limit: self.limits.max_bytes,
            }
        } else {
            StoreError::Corrupt {
                what: format!("layer {}", self.layer),
                source: e,
            }
        }
    }

    /// Reads owner, mode, mtime and xattrs from the header and its PAX records.
    pub(crate) fn read_meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
    ) -> Result<Meta> {
        let header = entry.header();
        let mut uid = header.uid().map_err(|e| self.stream_error(e))?;
        let mut gid = header.gid().map_err(|e| self.stream_error(e))?;
        let mode = header.mode().map_err(|e| self.stream_error(e))?;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(header.mtime().map_err(|e| self.stream_error(e))?).unwrap_or(0),
            tv_nsec: 0,
        };
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| self.stream_error(e))? {
            for ext in pax {
                let ext = ext.map_err(|e| self.stream_error(e))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let text = std::str::from_utf8(value).unwrap_or("");
                match key {
                    "uid" => uid = text.parse().map_err(|_| self.reject(raw, "bad PAX uid"))?,
                    "gid" => gid = text.parse().map_err(|_| self.reject(raw, "bad PAX gid"))?,
                    "mtime" => {
                        mtime =
                            parse_pax_time(text).ok_or_else(|| self.reject(raw, "bad PAX mtime"))?
                    }
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                            if name.starts_with("trusted.overlay.")
                                || name.starts_with("user.overlay.")
                            {
                                tracing::warn!(entry = %raw.display(), xattr = name, "dropping overlayfs xattr from layer");
                            } else {
                                xattrs.push((name.to_owned(), value.to_vec()));
                            }
                        }
                    }
                }
            }
        }
        let too_big = |what| self.reject(raw, format!("{what} does not fit in 32 bits"));
        Ok(Meta {
            uid: u32::try_from(uid).map_err(|_| too_big("uid"))?,
            gid: u32::try_from(gid).map_err(|_| too_big("gid"))?,
            mode,
            mtime,
            xattrs,
        })
    }
}

/// Entry types that only carry metadata for the next entry (the `tar` crate applies them).
pub(crate) fn is_metadata_entry(kind: tar::EntryType) -> bool {
    use tar::EntryType;
    matches!(
        kind,
        EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink
    )
}

/// The entry path as a clean relative path, or why it is refused.
pub(crate) fn clean_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` path components are not allowed"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed in a layer")
            }
        }
    }
    Ok(out)
}

/// Parses a PAX time (`1700000000.123456789`).
pub(crate) fn parse_pax_time(text: &str) -> Option<Timespec> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let tv_sec = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_refuses_escapes() {
        assert_eq!(clean_path(Path::new("./a/b/")).unwrap(), Path::new("a/b"));
        assert!(clean_path(Path::new("a/../../etc")).is_err());
        assert!(clean_path(Path::new("/etc/passwd")).is_err());
        assert_eq!(clean_path(Path::new("./")).unwrap(), Path::new(""));
    }

    #[test]
    fn pax_times_keep_nanoseconds() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        assert!(parse_pax_time("x").is_none());
    }
}
