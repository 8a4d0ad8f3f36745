//! Private work directories under the store's `tmp/`, and the clean-up of those left by
//! processes that died (kill -9, power loss).
//!
//! The rule: a work directory is in use while anyone holds the flock on its `.lock` file.
//! Its owner takes the lock when creating it, and every tool it runs there
//! ([`WorkDir::tool_command`]) inherits the locked descriptor through `exec`, as do the
//! tool's own children. Clean-up removes a directory only once it holds that lock itself,
//! so it never races a tool that is still writing: not one whose parent-death signal is
//! still in flight, not a child caught between `fork` and `exec` (which holds a copy of
//! every descriptor of its parent), and not a grandchild that signal never reaches.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{IoContext, Result};
use crate::fsutil::{remove_any, unique_path, FileLock};
use crate::tool::tool_command;

/// Name of the lock file inside each work directory.
const WORKDIR_LOCK: &str = ".lock";

/// Prefix of work directory names: `work-<owner pid>-<nanos>-<counter>`.
const WORKDIR_PREFIX: &str = "work";

/// How long clean-up waits for the tools of a dead owner to exit. They were sent SIGKILL
/// (parent-death signal) or exit on their own (see [`tool_command`]), so this is only ever
/// reached by a tool stuck in the kernel, or a grandchild the signal does not reach; then
/// the directory is left for a later clean-up.
const DEAD_OWNER_TOOLS_WAIT: Duration = Duration::from_secs(10);

/// A private scratch directory under the store's `tmp/`, locked for as long as it lives so
/// a concurrent `Store::open` never cleans it up; removed on drop. A process killed with -9
/// leaves it behind, unlocked once its tools are gone, for the next [`WorkDir::remove_stale`].
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
    lock: FileLock,
}

impl WorkDir {
    /// Creates a work directory under `tmp_root`. Call with the store lock held, so stale-dir
    /// cleanup cannot race the window between mkdir and flock.
    pub(crate) fn create(tmp_root: &Path) -> Result<Self> {
        let path = unique_path(tmp_root, WORKDIR_PREFIX);
        fs::create_dir(&path).io("create work directory", &path)?;
        let lock = FileLock::acquire(&path.join(WORKDIR_LOCK))?;
        Ok(Self { path, lock })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A [`tool_command`] for a tool that writes into this directory: the tool (and any
    /// child of it) keeps the directory locked until it exits, even if hull dies first.
    pub(crate) fn tool_command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = tool_command(program);
        let lock_fd = self.lock.fd().as_raw_fd();
        // SAFETY: runs in the child between fork and exec; it only clears FD_CLOEXEC on a
        // descriptor the child inherited (one fcntl, async-signal-safe), so the tool keeps
        // the lock across exec. The fd number stays valid: `self` outlives the spawn call.
        unsafe {
            cmd.pre_exec(move || {
                let fd = std::os::fd::BorrowedFd::borrow_raw(lock_fd);
                rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())
                    .map_err(std::io::Error::from)
            });
        }
        cmd
    }

    /// Removes every entry of `tmp_root` that no live process uses. Call with the store
    /// lock held.
    pub(crate) fn remove_stale(tmp_root: &Path) -> Result<()> {
        for entry in fs::read_dir(tmp_root).io("list", tmp_root)? {
            let path = entry.io("list", tmp_root)?.path();
            if !path.is_dir() {
                // Loose files are temp files of atomic_write, which never outlive the store lock.
                tracing::debug!(path = %path.display(), "removing stale temporary file");
                remove_any(&path)?;
                continue;
            }
            let lock_path = path.join(WORKDIR_LOCK);
            let lock = match FileLock::try_acquire(&lock_path)? {
                Some(lock) => lock,
                None if owner_is_alive(&path) => continue,
                // The owner is dead but something it started still holds the lock: a tool
                // that is exiting, or a child that had not reached exec. Wait for it.
                None => match FileLock::acquire_within(&lock_path, DEAD_OWNER_TOOLS_WAIT)? {
                    Some(lock) => lock,
                    None => {
                        tracing::warn!(
                            path = %path.display(),
                            "a dead process's tool still uses this work directory; left for later"
                        );
                        continue;
                    }
                },
            };
            tracing::debug!(path = %path.display(), "removing stale temporary data");
            // Removed while locked, so nothing can start using it meanwhile.
            remove_any(&path)?;
            drop(lock);
        }
        Ok(())
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove work directory");
        }
    }
}

/// The pid in a work directory's name (`work-<pid>-...`), if it has one.
fn owner_pid(dir: &Path) -> Option<i32> {
    let name = dir.file_name()?.to_str()?;
    let rest = name.strip_prefix(WORKDIR_PREFIX)?.strip_prefix('-')?;
    rest.split('-').next()?.parse().ok()
}

/// Whether the process that created `dir` may still be running. A reused pid reads as
/// alive, which only postpones the clean-up; a zombie is dead (it holds no descriptors).
fn owner_is_alive(dir: &Path) -> bool {
    let Some(pid) = owner_pid(dir) else {
        return false;
    };
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The command name (field 2) may hold spaces and parentheses: the state follows the last ')'.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;
    use std::time::Instant;

    /// A pid that belonged to a process that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    /// Turns a live work dir into what a killed owner leaves: the owner's own lock released,
    /// the directory kept, named after a dead pid. Whatever else holds the lock keeps it.
    fn abandon(work: WorkDir) -> PathBuf {
        let orphan = work
            .path
            .with_file_name(format!("{WORKDIR_PREFIX}-{}-0-0", dead_pid()));
        fs::rename(&work.path, &orphan).unwrap();
        // Releases the owner's lock; its clean-up finds nothing at the old name.
        drop(work);
        orphan
    }

    #[test]
    fn stale_work_dirs_are_removed_but_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let live = WorkDir::create(dir.path()).unwrap();
        let stale = dir.path().join("work-dead");
        fs::create_dir(&stale).unwrap();
        let loose = dir.path().join("write-1-2-3");
        fs::write(&loose, b"half").unwrap();
        WorkDir::remove_stale(dir.path()).unwrap();
        assert!(live.path().exists());
        assert!(!stale.exists());
        assert!(!loose.exists());
    }

    #[test]
    fn the_owner_pid_comes_from_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::create(dir.path()).unwrap();
        assert_eq!(
            owner_pid(work.path()),
            i32::try_from(std::process::id()).ok()
        );
        assert!(owner_is_alive(work.path()));
        assert_eq!(owner_pid(Path::new("/x/work-dead")), None);
        assert!(!owner_is_alive(Path::new("/x/work-dead")));
        let gone = format!("/x/work-{}-1-2", dead_pid());
        assert!(!owner_is_alive(Path::new(&gone)));
    }

    /// The crash test's flake, made deterministic: the owner dies while a child it forked
    /// has not reached exec yet. That child holds a copy of the owner's lock descriptor
    /// (close-on-exec only acts at exec). Clean-up must wait for it, not skip the directory
    /// as if it were live, and not remove it under a tool that is still starting.
    #[test]
    fn a_child_between_fork_and_exec_of_a_dead_owner_is_waited_for() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::create(dir.path()).unwrap();
        let (mut forked, forked_tx) = std::io::pipe().unwrap();
        let forked_fd = forked_tx.as_raw_fd();
        let mut cmd = Command::new("true");
        // SAFETY: the child only writes one byte to an inherited pipe and sleeps (write and
        // nanosleep are async-signal-safe) before exec.
        unsafe {
            cmd.pre_exec(move || {
                let tx = std::os::fd::BorrowedFd::borrow_raw(forked_fd);
                rustix::io::write(tx, b"f")?;
                std::thread::sleep(Duration::from_millis(400));
                Ok(())
            });
        }
        // spawn() returns only once the child has exec'd: the owner "dies" meanwhile.
        let spawner = std::thread::spawn(move || {
            let status = cmd.stdin(Stdio::null()).status();
            drop(forked_tx);
            status
        });
        forked.read_exact(&mut [0]).unwrap();
        let orphan = abandon(work);
        let started = Instant::now();
        WorkDir::remove_stale(dir.path()).unwrap();
        assert!(!orphan.exists(), "the orphaned work dir survived clean-up");
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "clean-up did not wait for the child that held the lock"
        );
        assert!(spawner.join().unwrap().unwrap().success());
    }

    /// A tool run in a work dir keeps it locked until the tool exits, even after its owner
    /// is gone: clean-up never removes a directory a tool is still writing into.
    #[test]
    fn a_tool_of_a_dead_owner_keeps_its_work_dir_until_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::create(dir.path()).unwrap();
        // The tool writes into the work dir after a while, as mkfs or debootstrap would.
        let mut tool = work
            .tool_command("sh")
            .args(["-c", "sleep 0.4; : > tool-was-here"])
            .current_dir(work.path())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let orphan = abandon(work);
        WorkDir::remove_stale(dir.path()).unwrap();
        assert!(
            tool.try_wait().unwrap().is_some(),
            "clean-up ran while the tool was still running"
        );
        assert!(tool.wait().unwrap().success(), "the tool lost its work dir");
        assert!(!orphan.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_live_owners_dir_is_kept_even_while_a_tool_runs() {
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::create(dir.path()).unwrap();
        let mut tool = work
            .tool_command("sleep")
            .arg("0.2")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        WorkDir::remove_stale(dir.path()).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "clean-up waited on a live owner"
        );
        assert!(work.path().exists());
        tool.wait().unwrap();
    }
}
