//! The tar streams of a copy: a guest's checked and extracted (or re-filed for `-`), a
//! host path's written.

use super::paths::{place, Destination};
use crate::error::{Error, Result};
use hull_rootfs::{ExtractLimits, Extractor, Rebase, Refiler};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

fn extract_error(e: hull_rootfs::ExtractError) -> Error {
    Error::Copy(e.to_string())
}

/// The guest's stream re-filed, entry by entry checked, onto `out`.
pub(super) fn refile(
    stream: &mut dyn Read,
    out: &mut dyn Write,
    limits: ExtractLimits,
) -> Result<()> {
    let mut archive = tar::Archive::new(stream);
    let mut refiler = Refiler::new(out, limits);
    let entries = archive
        .entries()
        .map_err(|e| extract_error(hull_rootfs::ExtractError::Corrupt(e)))?;
    for entry in entries {
        let entry = entry.map_err(|e| extract_error(hull_rootfs::ExtractError::Corrupt(e)))?;
        refiler.refile(entry).map_err(extract_error)?;
    }
    refiler.finish().map_err(extract_error)?.flush()?;
    Ok(())
}

/// The guest's stream extracted where Docker's rules put it: the first entry (the copied
/// path itself) says whether a file or a directory is coming.
pub(super) fn extract(
    stream: &mut dyn Read,
    dest: &Destination,
    limits: ExtractLimits,
) -> Result<()> {
    let mut archive = tar::Archive::new(stream);
    let corrupt = |e| extract_error(hull_rootfs::ExtractError::Corrupt(e));
    let mut entries = archive.entries().map_err(corrupt)?;
    let Some(first) = entries.next() else {
        // Nothing came: the session's status says why.
        return Ok(());
    };
    let first = first.map_err(corrupt)?;
    let is_dir = first.header().entry_type().is_dir();
    let top = first
        .path()
        .map_err(corrupt)?
        .to_string_lossy()
        .into_owned();
    let top = top.trim_end_matches('/');
    let top = if top.is_empty() { "." } else { top };
    let placement = place(is_dir, top, dest).map_err(|e| Error::Copy(e.to_string()))?;
    let rebase = Rebase {
        from: clean_top(top),
        to: placement.name,
    };
    let mut extractor = Extractor::new(Path::new(&placement.dir), rebase, limits);
    extractor.extract(first).map_err(extract_error)?;
    for entry in entries {
        extractor
            .extract(entry.map_err(corrupt)?)
            .map_err(extract_error)?;
    }
    extractor.finish().map_err(extract_error)
}

/// A tar of the host's `source` on `out`, its top entry named `name`; symlinks stay links.
pub(super) fn write_host_tar(
    source: &Path,
    is_dir: bool,
    name: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    if is_dir {
        builder.append_dir_all(name, source)?;
    } else {
        builder.append_path_with_name(source, name)?;
    }
    builder.into_inner()?.flush()?;
    Ok(())
}

/// `name` as a relative path with `.` components dropped (the rebase's `from`).
fn clean_top(name: &str) -> PathBuf {
    Path::new(name)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::copy::host::host_destination;
    use std::{fs, io};

    #[test]
    fn the_rebase_starts_at_the_top_name() {
        assert_eq!(clean_top("."), PathBuf::new());
        assert_eq!(clean_top("etc"), PathBuf::from("etc"));
    }

    #[test]
    fn a_guest_stream_is_placed_by_its_first_entry() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder
            .append_data(&mut header, "etc/", io::empty())
            .unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(2);
        builder
            .append_data(&mut header, "etc/hostname", &b"h\n"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let limits = ExtractLimits {
            max_bytes: 1 << 20,
            max_entries: 100,
        };
        // A new destination: the directory takes its name.
        let dest = host_destination(&dir.path().join("copy")).unwrap();
        extract(&mut tar.as_slice(), &dest, limits).unwrap();
        assert_eq!(fs::read(dir.path().join("copy/hostname")).unwrap(), b"h\n");
        // An existing directory: the copy goes into it under its own name.
        let dest = host_destination(&dir.path().join("copy")).unwrap();
        extract(&mut tar.as_slice(), &dest, limits).unwrap();
        assert_eq!(
            fs::read(dir.path().join("copy/etc/hostname")).unwrap(),
            b"h\n"
        );
    }
}
