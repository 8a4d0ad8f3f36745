//! `hull cp`: files between a container and the host, as Docker's `docker cp`.
//!
//! The container's files are read and written only inside its VM (a stopped container's
//! disks boot in a short-lived helper VM, [`HelperVm`]): hull-init runs an
//! archive session ([`ArchiveRequest`]: stat, export a tar, import a tar) in the
//! container's root, and the tar streams travel over the control console in bounded,
//! flow-controlled chunks. The host never mounts a guest-written filesystem. A tar coming
//! out of the guest is hostile input: every entry goes through `hull_rootfs`'s checked
//! [`Extractor`] (or [`Refiler`] for `-`) before anything is written on the host, and a
//! stream is bounded by what the container's disks and memory could hold.
//!
//! Where a copy lands follows Docker's rules ([`super::copy_paths`]).

use super::copy_paths::{asserts_directory, place, split_dir_entry, Destination};
use super::{Containers, Session, SessionEvent, SessionInput};
use crate::container::Container;
use crate::error::{Error, Result};
use crate::supervisor::helper::HelperVm;
use hull_protocol::{ArchiveRequest, PathStat, ARCHIVE_NOT_FOUND, ARCHIVE_OK};
use hull_rootfs::{ExtractLimits, Extractor, Rebase, Refiler};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// Most stderr bytes of a session kept for the error message.
const MAX_ERROR_TEXT: usize = 16 * 1024;
/// Symlinks followed when resolving a host destination (Docker's limit).
const MAX_SYMLINKS: usize = 10;

/// Docker's `cp` flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// `-a`: files copied into the container keep their uid/gid (else root's).
    pub archive: bool,
    /// `-L`: a source that is a symlink is copied as what it points to.
    pub follow_link: bool,
}

/// Where `cp CONTAINER:PATH` writes.
pub enum CopyTarget<'a> {
    /// A host path.
    Host(PathBuf),
    /// A tar stream (`-`: stdout).
    Stream(&'a mut dyn Write),
}

/// What `cp … CONTAINER:PATH` reads.
pub enum CopySource<'a> {
    /// A host path.
    Host(PathBuf),
    /// A tar stream (`-`: stdin), extracted into the destination directory.
    Stream(&'a mut dyn Read),
}

/// A copy out's destination, resolved on the host before the container is asked anything.
enum Sink<'a> {
    Host(Destination),
    Stream(&'a mut dyn Write),
}

/// What a copy in sends: the user's tar stream as it is, or a tar of a host path.
enum Upload<'a> {
    Stream(&'a mut dyn Read),
    Tree {
        source: PathBuf,
        is_dir: bool,
        /// The name of the top entry (where Docker's rules put the copy).
        name: PathBuf,
    },
}

impl Upload<'_> {
    fn write_to(self, out: &mut dyn Write) -> Result<()> {
        match self {
            Self::Stream(input) => {
                io::copy(input, out)?;
                Ok(())
            }
            Self::Tree {
                source,
                is_dir,
                name,
            } => write_host_tar(&source, is_dir, &name, out),
        }
    }
}

/// A session's stdout as a [`Read`]: the rest of its events (stderr, the status) are kept.
struct SessionOutput {
    session: Session,
    chunk: Vec<u8>,
    offset: usize,
    errors: Vec<u8>,
    /// The status, once the session ended (`None` inside: it ended without one).
    status: Option<Option<i32>>,
}

impl SessionOutput {
    fn new(session: Session) -> Self {
        Self {
            session,
            chunk: Vec::new(),
            offset: 0,
            errors: Vec::new(),
            status: None,
        }
    }

    /// Takes the next event; false once the session is over.
    fn pump(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.session.next_event() {
            Some(SessionEvent::Stdout(bytes)) => {
                self.chunk = bytes;
                self.offset = 0;
            }
            Some(SessionEvent::Stderr(bytes)) => {
                let room = MAX_ERROR_TEXT.saturating_sub(self.errors.len());
                self.errors
                    .extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Some(SessionEvent::Started) => {}
            Some(SessionEvent::Exit(code)) => self.status = Some(Some(code)),
            None => self.status = Some(None),
        }
        true
    }

    /// Reads (and drops) what is left; the status and the error text.
    fn finish(mut self) -> (Option<i32>, String) {
        while self.pump() {}
        let text = String::from_utf8_lossy(&self.errors).trim().to_string();
        (self.status.flatten(), text)
    }
}

impl Read for SessionOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset < self.chunk.len() {
                let n = buf.len().min(self.chunk.len() - self.offset);
                buf[..n].copy_from_slice(&self.chunk[self.offset..self.offset + n]);
                self.offset += n;
                return Ok(n);
            }
            if !self.pump() {
                return Ok(0);
            }
        }
    }
}

/// Bytes written become stdin frames of a session.
struct SessionInputWriter {
    input: SessionInput,
    written: u64,
}

impl Write for SessionInputWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.input.stdin(buf) {
            self.written += buf.len() as u64;
            Ok(buf.len())
        } else {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the container's side of the copy ended",
            ))
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `path` made absolute in the container (Docker: container paths are relative to `/`),
/// its trailing `/` or `/.` kept.
fn container_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// The name of a copy's top entry: the last component, `.` for `dir/.`.
fn top_name(path: &str) -> String {
    split_dir_entry(path).1
}

/// `name` as a relative path with `.` components dropped (the rebase's `from`).
fn clean_top(name: &str) -> PathBuf {
    Path::new(name)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

impl Containers {
    /// `hull cp CONTAINER:SRC DEST|-`; returns the bytes of the tar stream copied.
    pub fn copy_from_container(
        &self,
        reference: &str,
        source: &str,
        target: CopyTarget<'_>,
        options: CopyOptions,
    ) -> Result<u64> {
        let source = container_path(source);
        // Docker checks the host side first: a missing parent fails before the container
        // is asked anything.
        let sink = match target {
            CopyTarget::Host(path) => Sink::Host(host_destination(&path)?),
            CopyTarget::Stream(out) => Sink::Stream(out),
        };
        let container = self.find(reference)?;
        let limits = self.copy_limits(&container);
        let vm = self.copy_vm(&container)?;
        let request = ArchiveRequest::Export {
            path: source.clone(),
            follow_link: options.follow_link,
        };
        let mut output = CountingReader::new(SessionOutput::new(
            self.archive_session(&container, &vm.socket, request)?,
        ));
        let copied = match sink {
            Sink::Stream(out) => refile(&mut output, out, limits),
            Sink::Host(dest) => extract(&mut output, &dest, limits),
        };
        let bytes = output.count;
        let (status, errors) = output.inner.finish();
        let finished = vm.finish();
        self.archive_status(reference, &source, status, &errors)?;
        copied?;
        finished?;
        Ok(bytes)
    }

    /// `hull cp SRC|- CONTAINER:DEST`; returns the bytes of the tar stream copied.
    pub fn copy_to_container(
        &self,
        reference: &str,
        source: CopySource<'_>,
        dest: &str,
        options: CopyOptions,
    ) -> Result<u64> {
        let dest = container_path(dest);
        let container = self.find(reference)?;
        let vm = self.copy_vm(&container)?;
        let destination = self.container_destination(&container, &vm.socket, reference, &dest)?;
        let (dir, upload) = match source {
            CopySource::Stream(input) => {
                if !destination.is_dir {
                    return Err(Error::Copy(format!(
                        "destination \"{reference}:{dest}\" must be a directory"
                    )));
                }
                (destination.path.clone(), Upload::Stream(input))
            }
            CopySource::Host(path) => {
                let (resolved, is_dir) = host_source(&path, options.follow_link)?;
                let given = path.to_string_lossy();
                let placement = place(is_dir, &top_name(&given), &destination)
                    .map_err(|e| Error::Copy(e.to_string()))?;
                let name = if placement.name.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    placement.name
                };
                let tree = Upload::Tree {
                    source: resolved,
                    is_dir,
                    name,
                };
                (placement.dir, tree)
            }
        };
        let request = ArchiveRequest::Import {
            path: dir.clone(),
            keep_owner: options.archive,
        };
        let session = self.archive_session(&container, &vm.socket, request)?;
        let input = session.input();
        let reader = std::thread::spawn(move || SessionOutput::new(session).finish());
        let mut writer = SessionInputWriter { input, written: 0 };
        let sent = upload.write_to(&mut writer);
        writer.input.stdin_eof();
        let (status, errors) = reader
            .join()
            .unwrap_or((None, "the copy's reader failed".into()));
        let finished = vm.finish();
        self.archive_status(reference, &dir, status, &errors)?;
        sent?;
        finished?;
        Ok(writer.written)
    }

    /// Docker's error for a session's status.
    fn archive_status(
        &self,
        reference: &str,
        path: &str,
        status: Option<i32>,
        errors: &str,
    ) -> Result<()> {
        match status {
            Some(ARCHIVE_OK) => Ok(()),
            Some(ARCHIVE_NOT_FOUND) => Err(Error::CopyNotFound {
                path: path.to_string(),
                container: reference.to_string(),
            }),
            Some(_) if !errors.is_empty() => Err(Error::Copy(
                errors.strip_prefix("hull: ").unwrap_or(errors).to_string(),
            )),
            Some(code) => Err(Error::Copy(format!(
                "the copy failed in the container ({code})"
            ))),
            None => Err(self.exec_lost(reference)),
        }
    }

    /// What is at `path` in the container, a final symlink followed once (as Docker's
    /// client does with the daemon's stat).
    fn container_destination(
        &self,
        container: &Container,
        socket: &Path,
        reference: &str,
        path: &str,
    ) -> Result<Destination> {
        let mut resolved = path.to_string();
        let mut stat = self.container_stat(container, socket, reference, path)?;
        if let Some(link) = stat.as_ref().filter(|s| s.is_symlink()) {
            resolved = if link.link_target.starts_with('/') {
                link.link_target.clone()
            } else {
                let (parent, _) = split_dir_entry(path);
                format!("{}/{}", parent.trim_end_matches('/'), link.link_target)
            };
            stat = self.container_stat(container, socket, reference, &resolved)?;
        }
        if let Some(stat) = &stat {
            if !stat.is_dir() && !stat.is_file() {
                return Err(Error::Copy(format!(
                    "destination \"{reference}:{path}\" must be a directory or a regular file"
                )));
            }
        }
        Ok(Destination {
            path: resolved,
            exists: stat.is_some(),
            is_dir: stat.as_ref().is_some_and(PathStat::is_dir),
        })
    }

    /// The container's stat of `path`; `None` when it does not exist.
    fn container_stat(
        &self,
        container: &Container,
        socket: &Path,
        reference: &str,
        path: &str,
    ) -> Result<Option<PathStat>> {
        let request = ArchiveRequest::Stat {
            path: path.to_string(),
        };
        let mut output = SessionOutput::new(self.archive_session(container, socket, request)?);
        let mut json = Vec::new();
        // A PathStat is small: a guest sending more is cut off.
        (&mut output).take(64 * 1024).read_to_end(&mut json)?;
        let (status, errors) = output.finish();
        match status {
            Some(ARCHIVE_NOT_FOUND) => Ok(None),
            _ => {
                self.archive_status(reference, path, status, &errors)?;
                serde_json::from_slice(&json).map(Some).map_err(|e| {
                    Error::Copy(format!("the container's stat of {path} is invalid: {e}"))
                })
            }
        }
    }

    /// The VM a copy goes through: the running container's, or a helper VM booted on a
    /// stopped container's disks (Docker copies to and from stopped containers too).
    fn copy_vm(&self, container: &Container) -> Result<CopyVm> {
        if container.is_running() {
            return Ok(CopyVm {
                socket: self.store.paths(&container.id).control_socket(),
                helper: None,
            });
        }
        let helper = HelperVm::boot(&self.store, container, self.engines.as_ref())?;
        Ok(CopyVm {
            socket: helper.control_socket(),
            helper: Some(helper),
        })
    }

    /// A guest's stream can hold no more than the container's disks and memory: its
    /// budget (a sparse file counts whole, as it is written out whole).
    fn copy_limits(&self, container: &Container) -> ExtractLimits {
        let paths = self.store.paths(&container.id);
        let disks: u64 = container
            .layer_paths
            .iter()
            .chain(std::iter::once(&paths.rw_disk()))
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let max_bytes = disks.saturating_add(container.options.mem_mib.saturating_mul(1 << 20));
        ExtractLimits {
            max_bytes,
            // At most one entry per 256-byte inode those bytes could hold.
            max_entries: (max_bytes / 256).max(1 << 16),
        }
    }
}

/// The control socket archive sessions go to, and the helper VM behind it, if any.
struct CopyVm {
    socket: PathBuf,
    helper: Option<HelperVm>,
}

impl CopyVm {
    /// Powers a helper VM off (its guest syncs the writable disk first).
    fn finish(self) -> Result<()> {
        match self.helper {
            Some(helper) => Ok(helper.finish()?),
            None => Ok(()),
        }
    }
}

/// Counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        Self { inner, count: 0 }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn extract_error(e: hull_rootfs::ExtractError) -> Error {
    Error::Copy(e.to_string())
}

/// The guest's stream re-filed, entry by entry checked, onto `out`.
fn refile(stream: &mut dyn Read, out: &mut dyn Write, limits: ExtractLimits) -> Result<()> {
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
fn extract(stream: &mut dyn Read, dest: &Destination, limits: ExtractLimits) -> Result<()> {
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

/// Docker's `validateOutputPath` and `CopyInfoDestinationPath`: the parent must exist; a
/// symlink at the destination is followed (the host's own files, not the guest's).
fn host_destination(path: &Path) -> Result<Destination> {
    let given = path.to_string_lossy().into_owned();
    let parent = Path::new(&given)
        .components()
        .collect::<PathBuf>()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if !parent.as_os_str().is_empty() && !parent.exists() {
        return Err(Error::Copy(format!(
            "invalid output path: directory {:?} does not exist",
            parent.display().to_string()
        )));
    }
    let mut current = PathBuf::from(&given);
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(meta) => {
                if !meta.is_dir() && !meta.is_file() {
                    return Err(Error::Copy(format!(
                        "invalid output path: {given:?} must be a directory or a regular file"
                    )));
                }
                let path = if current == Path::new(&given) {
                    given
                } else {
                    current.to_string_lossy().into_owned()
                };
                return Ok(Destination {
                    path,
                    exists: true,
                    is_dir: meta.is_dir(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let path = if current == Path::new(&given) {
                    given
                } else {
                    current.to_string_lossy().into_owned()
                };
                return Ok(Destination {
                    path,
                    exists: false,
                    is_dir: false,
                });
            }
            Err(e) => return Err(Error::Copy(format!("stat {}: {e}", current.display()))),
        }
    }
    Err(Error::Copy(format!("too many symlinks in {given}")))
}

/// Docker's `CopyInfoSourcePath`: the host source (a symlink followed with `-L`) and whether
/// it is a directory.
fn host_source(path: &Path, follow_link: bool) -> Result<(PathBuf, bool)> {
    let missing = |e: io::Error| Error::Copy(format!("lstat {}: {}", path.display(), os_text(&e)));
    let meta = fs::symlink_metadata(path).map_err(missing)?;
    if follow_link && meta.file_type().is_symlink() {
        let resolved = fs::canonicalize(path).map_err(missing)?;
        let is_dir = fs::metadata(&resolved).map_err(missing)?.is_dir();
        return Ok((resolved, is_dir));
    }
    if asserts_directory(&path.to_string_lossy()) && !meta.is_dir() {
        return Err(Error::Copy(format!(
            "lstat {}: not a directory",
            path.display()
        )));
    }
    Ok((path.to_path_buf(), meta.is_dir()))
}

/// An OS error as Go prints it ("no such file or directory").
fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A tar of the host's `source` on `out`, its top entry named `name`; symlinks stay links.
fn write_host_tar(source: &Path, is_dir: bool, name: &Path, out: &mut dyn Write) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_rooted_and_keep_their_trailing_dot() {
        assert_eq!(container_path("etc/hostname"), "/etc/hostname");
        assert_eq!(container_path("/etc/."), "/etc/.");
        assert_eq!(top_name("/etc/."), ".");
        assert_eq!(top_name("/etc/"), "etc");
        assert_eq!(clean_top("."), PathBuf::new());
        assert_eq!(clean_top("etc"), PathBuf::from("etc"));
    }

    #[test]
    fn host_destinations_need_a_parent_and_follow_the_users_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/file");
        let err = host_destination(&missing).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let dest = host_destination(&link).unwrap();
        assert_eq!((dest.exists, dest.is_dir), (true, true));
        assert_eq!(Path::new(&dest.path), real);
        let new = host_destination(&dir.path().join("new")).unwrap();
        assert!(!new.exists);
    }

    #[test]
    fn a_missing_host_source_says_so_as_go_does() {
        let err = host_source(Path::new("/no/such/source"), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "lstat /no/such/source: no such file or directory"
        );
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
