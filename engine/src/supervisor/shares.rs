//! A container's virtio-fs share: one virtiofsd per running container, serving a
//! directory whose entries `0`, `1`, ... are bind mounts of the volumes' `_data` and the
//! bind mounts' host paths (read-only ones remounted read-only), made in a mount namespace
//! of virtiofsd's own, so nothing shows in the host's mount table and it all goes when
//! virtiofsd does. virtiofsd then sandboxes itself (its own namespaces, pivot_root into
//! that directory, seccomp): a symlink in a shared directory resolves in the guest, never
//! to the host's files. It serves one connection: when the VMM goes, so does it; and it
//! is killed with its supervisor (PR_SET_PDEATHSIG).

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long virtiofsd may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// One entry of the share: a host directory (or file) and whether the guest may write it.
#[derive(Debug, Clone)]
pub struct ShareEntry {
    /// The host path (a volume's `_data`, a bind's source).
    pub host_path: PathBuf,
    /// Served read-only.
    pub read_only: bool,
}

/// A running virtiofsd; killed and reaped when dropped.
pub struct Share {
    child: Child,
    /// Its vhost-user socket, for the VMM.
    pub socket: PathBuf,
}

impl Drop for Share {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The virtiofsd hull runs: `$HULL_VIRTIOFSD`, else the Rust virtiofsd on PATH.
pub fn virtiofsd() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("HULL_VIRTIOFSD") {
        return Ok(path.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/libexec"),
            PathBuf::from("/usr/local/bin"),
        ])
        .map(|dir| dir.join("virtiofsd"))
        .find(|candidate| candidate.is_file())
        .context(
            "volumes and bind mounts need virtiofsd (the Rust one): \
             run scripts/install-deps.sh, or cargo install virtiofsd",
        )
}

/// Starts virtiofsd for `entries` with its socket and staging directory in `dir`; returns
/// once it listens. `log` gets its output.
pub fn start(entries: &[ShareEntry], dir: &Path, log: &Path) -> Result<Share> {
    let binary = virtiofsd()?;
    let socket = dir.join("share.sock");
    let staging = dir.join("share");
    let _ = std::fs::remove_file(&socket);
    std::fs::create_dir_all(&staging)?;
    let mut plan = StagingPlan::new(&staging)?;
    for (index, entry) in entries.iter().enumerate() {
        let meta = std::fs::metadata(&entry.host_path).with_context(|| {
            format!(
                "the mount source {} is gone: recreate it or remove the container",
                entry.host_path.display()
            )
        })?;
        plan.add(index, entry, meta.is_dir())?;
    }
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = Command::new(&binary);
    command
        .arg(format!("--socket-path={}", socket.display()))
        .arg(format!("--shared-dir={}", staging.display()))
        .args(["--sandbox=namespace", "--seccomp=kill", "--cache=auto"])
        // The volumes are other filesystems under the staging tmpfs: tell the guest, so
        // their inode numbers never collide.
        .arg("--announce-submounts")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    // SAFETY: the closure only makes system calls on memory prepared before the fork
    // (`plan`'s C strings), as required between fork and exec.
    unsafe {
        command.pre_exec(move || plan.enter());
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    while !socket.exists() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "virtiofsd exited ({status}) before serving the volumes: {}",
                crate::vm::log_tail(log, 1500)
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("virtiofsd did not listen within {LISTEN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(Share { child, socket })
}

/// The mounts virtiofsd's child makes before exec, as C strings made before the fork.
struct StagingPlan {
    staging_dir: PathBuf,
    staging: CString,
    binds: Vec<StagedBind>,
}

/// One share entry: `source` bound on `target` in the staging directory.
struct StagedBind {
    source: CString,
    target: CString,
    read_only: bool,
    is_dir: bool,
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .with_context(|| format!("{} has a NUL byte", path.display()))
}

impl StagingPlan {
    fn new(staging: &Path) -> Result<Self> {
        Ok(Self {
            staging_dir: staging.to_path_buf(),
            staging: c_path(staging)?,
            binds: Vec::new(),
        })
    }

    fn add(&mut self, index: usize, entry: &ShareEntry, is_dir: bool) -> Result<()> {
        self.binds.push(StagedBind {
            source: c_path(&entry.host_path)?,
            target: c_path(&self.staging_dir.join(index.to_string()))?,
            read_only: entry.read_only,
            is_dir,
        });
        Ok(())
    }

    /// In the child: a private mount namespace, a tmpfs on the staging directory, one
    /// bind per entry, then the tmpfs made read-only.
    fn enter(&self) -> std::io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let null = std::ptr::null();
        let tmpfs = c"tmpfs".as_ptr();
        // SAFETY: plain system calls on NUL-terminated strings that outlive the calls.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                null.cast(),
            ))?;
            let data = c"mode=755";
            check(libc::mount(
                tmpfs,
                self.staging.as_ptr(),
                tmpfs,
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            ))?;
            for bind in &self.binds {
                if bind.is_dir {
                    check(libc::mkdir(bind.target.as_ptr(), 0o755))?;
                } else {
                    let fd = libc::open(
                        bind.target.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o644,
                    );
                    check(fd)?;
                    libc::close(fd);
                }
                check(libc::mount(
                    bind.source.as_ptr(),
                    bind.target.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REC,
                    null.cast(),
                ))?;
                if bind.read_only {
                    check(libc::mount(
                        null,
                        bind.target.as_ptr(),
                        null,
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        null.cast(),
                    ))?;
                }
            }
            check(libc::mount(
                null,
                self.staging.as_ptr(),
                null,
                libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                null.cast(),
            ))?;
            // The share dies with its supervisor (a supervisor killed with -9 leaves none).
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
        }
        Ok(())
    }
}
