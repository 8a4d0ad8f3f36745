//! [`Refiler`]: a guest's entries, checked, written as a new tar stream.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use tar::EntryType;

use super::{
    clean_path, unsafe_entry, Budget, ExtractError, ExtractLimits, Result, KEPT_MODE_BITS,
};
use crate::layer_entry::is_metadata_entry;

/// Re-files a guest's tar stream entry by entry into a new one, each checked by the same
/// name, type and budget rules as [`Extractor`] (`hull cp CONTAINER:PATH -`).
pub struct Refiler<W: Write> {
    builder: tar::Builder<W>,
    budget: Budget,
}

impl<W: Write> Refiler<W> {
    /// Writes to `out`.
    pub fn new(out: W, limits: ExtractLimits) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        Self {
            builder,
            budget: Budget::new(limits),
        }
    }

    /// Checks and copies one entry.
    pub fn refile<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if is_metadata_entry(kind) {
            return Ok(());
        }
        let raw = entry.path().map_err(ExtractError::Corrupt)?.into_owned();
        let size = if kind.is_file() { entry.size() } else { 0 };
        self.budget.take(size)?;
        let mut name = clean_path(&raw).map_err(|reason| unsafe_entry(&raw, reason))?;
        if name.as_os_str().is_empty() {
            name = PathBuf::from(".");
        }
        if matches!(kind, EntryType::Char | EntryType::Block) {
            return Err(unsafe_entry(
                &raw,
                "device nodes are not copied to the host",
            ));
        }
        if kind.is_dir() {
            // Directories end with `/`, as in Docker's streams (`tar -t` shows them so).
            name.as_mut_os_string().push("/");
        }
        let mut header = entry.header().clone();
        let mode = header.mode().map_err(ExtractError::Corrupt)? & KEPT_MODE_BITS;
        header.set_mode(mode);
        let write = |e: io::Error| ExtractError::Io {
            action: "write",
            path: PathBuf::from("the archive"),
            source: e,
        };
        match kind {
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(ExtractError::Corrupt)?
                    .ok_or_else(|| unsafe_entry(&raw, "link without a target"))?
                    .into_owned();
                if kind == EntryType::Link {
                    clean_path(&target).map_err(|reason| unsafe_entry(&raw, reason))?;
                }
                self.builder
                    .append_link(&mut header, &name, &target)
                    .map_err(write)
            }
            _ => {
                let declared = entry.size();
                self.builder
                    .append_data(&mut header, &name, entry.by_ref().take(declared))
                    .map_err(write)
            }
        }
    }

    /// Ends the stream; returns the writer.
    pub fn finish(self) -> Result<W> {
        self.builder.into_inner().map_err(|e| ExtractError::Io {
            action: "finish",
            path: PathBuf::from("the archive"),
            source: e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::hostile::{hostile_tar, LIMITS};
    use super::*;
    use std::path::Path;

    #[test]
    fn refiling_checks_names_and_keeps_content() {
        let tar = hostile_tar(&[
            ("a", EntryType::Directory, b""),
            ("a/b", EntryType::Regular, b"hello"),
        ]);
        let mut refiler = Refiler::new(Vec::new(), LIMITS);
        for entry in tar::Archive::new(tar.as_slice()).entries().unwrap() {
            refiler.refile(entry.unwrap()).unwrap();
        }
        let out = refiler.finish().unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut entries = archive.entries().unwrap();
        let dir = entries.next().unwrap().unwrap();
        assert_eq!(dir.header().path_bytes().as_ref(), b"a/");
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap(), Path::new("a/b"));
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        assert_eq!(content, "hello");
        let bad = hostile_tar(&[("../x", EntryType::Regular, b"x")]);
        let mut refiler = Refiler::new(Vec::new(), LIMITS);
        let mut archive = tar::Archive::new(bad.as_slice());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert!(refiler.refile(entry).is_err());
    }
}
