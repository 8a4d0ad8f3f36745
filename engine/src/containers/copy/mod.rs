//! `hull cp`: files between a container and the host, as Docker's `docker cp`.
//!
//! The container's files are read and written only inside its VM (a stopped container's
//! disks boot in a short-lived helper VM, [`HelperVm`]): hull-init runs an
//! archive session ([`ArchiveRequest`]: stat, export a tar, import a tar) in the
//! container's root, and the tar streams travel over the control console in bounded,
//! flow-controlled chunks. The host never mounts a guest-written filesystem. A tar coming
//! out of the guest is hostile input: every entry goes through `hull_rootfs`'s checked
//! [`hull_rootfs::Extractor`] (or [`hull_rootfs::Refiler`] for `-`) before anything is written on the host, and a
//! stream is bounded by what the container's disks and memory could hold.
//!
//! Where a copy lands follows Docker's rules ([`paths`]); the host's side is resolved as
//! Docker's client does ([`host`]); the tar streams are [`streams`], over a session's
//! stdin and stdout ([`session_io`]).

mod changes;
pub use commit::CommitRequest;
pub(crate) use commit::LayerExport;
mod commit;
mod host;
pub mod paths;
mod session_io;
mod streams;

use crate::container::Container;
use crate::error::{Error, Result};
use crate::supervisor::helper::HelperVm;
use host::{host_destination, host_source};
use hull_protocol::{ArchiveRequest, PathStat, ARCHIVE_NOT_FOUND, ARCHIVE_OK};
use hull_rootfs::ExtractLimits;
use paths::{place, split_dir_entry, Destination};
use session_io::{CountingReader, SessionInputWriter, SessionOutput};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use streams::{extract, refile, write_host_tar};

use super::Containers;

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

    /// The stat of `path` in the container `reference` names (the API's `HEAD archive`,
    /// which Docker's `cp` asks first).
    pub fn stat_path(&self, reference: &str, path: &str) -> Result<PathStat> {
        let path = container_path(path);
        let container = self.find(reference)?;
        let vm = self.copy_vm(&container)?;
        let stat = self.container_stat(&container, &vm.socket, reference, &path);
        vm.finish()?;
        stat?.ok_or_else(|| Error::CopyNotFound {
            path,
            container: reference.to_string(),
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
        // The guest's hull-init does the copy: with its vCPUs stopped it would wait for
        // `unpause` forever.
        if container.is_paused() {
            return Err(Error::Paused(container.id.clone(), "copying"));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_rooted_and_keep_their_trailing_dot() {
        assert_eq!(container_path("etc/hostname"), "/etc/hostname");
        assert_eq!(container_path("/etc/."), "/etc/.");
        assert_eq!(top_name("/etc/."), ".");
        assert_eq!(top_name("/etc/"), "etc");
    }
}
