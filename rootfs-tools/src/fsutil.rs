//! Crash-safe file primitives: atomic writes, directory fsync, flock-based locks, private work
//! directories, and running external tools with useful errors.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{flock, FlockOperation};

use crate::error::{IoContext, Result, StoreError};

/// Makes a completed rename or create in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .io("sync directory", dir)
}

/// Writes `bytes` to `path` so that readers see either the old file or the new one, never a
/// partial one, even across kill -9 or power loss: temp file in `tmp_dir` (same filesystem),
/// fsync, rename, fsync of the parent directory.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<()> {
    let tmp = unique_path(tmp_dir, "write");
    let result = (|| {
        let mut file = File::create(&tmp).io("create", &tmp)?;
        file.write_all(bytes).io("write", &tmp)?;
        file.sync_all().io("sync", &tmp)?;
        fs::rename(&tmp, path).io("rename into place", path)?;
        fsync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Moves a finished file into its content-addressed place unless an identical one is already
/// there (same name = same digest = same content).
pub(crate) fn install_file(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        return Ok(());
    }
    File::open(from)
        .and_then(|f| f.sync_all())
        .io("sync", from)?;
    fs::rename(from, to).io("rename into place", to)
}

/// A fresh path under `dir` that no other thread or process of this host picks.
pub(crate) fn unique_path(dir: &Path, what: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{what}-{}-{nanos}-{n}", std::process::id()))
}

/// An exclusive flock, released when dropped (or when the process dies, which is what makes
/// it safe against kill -9).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` (created if missing) is ours.
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .io("open lock file", path)?;
        flock(&file, FlockOperation::LockExclusive).io("lock", path)?;
        Ok(Self { _file: file })
    }

    /// The lock if nobody holds it, else `None`.
    pub(crate) fn try_acquire(path: &Path) -> Result<Option<Self>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .io("open lock file", path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e).io("lock", path),
        }
    }
}

/// A private scratch directory under the store's `tmp/`, locked for as long as it lives so a
/// concurrent `Store::open` never cleans it up; removed on drop. A process killed with -9
/// leaves it behind unlocked, and the next `Store::open` removes it.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
    _lock: FileLock,
}

/// Name of the lock file inside each work directory.
const WORKDIR_LOCK: &str = ".lock";

impl WorkDir {
    /// Creates a work directory under `tmp_root`. Call with the store lock held, so stale-dir
    /// cleanup cannot race the window between mkdir and flock.
    pub(crate) fn create(tmp_root: &Path) -> Result<Self> {
        let path = unique_path(tmp_root, "work");
        fs::create_dir(&path).io("create work directory", &path)?;
        let lock = FileLock::acquire(&path.join(WORKDIR_LOCK))?;
        Ok(Self { path, _lock: lock })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes every entry of `tmp_root` that no live process holds. Call with the store lock.
    pub(crate) fn remove_stale(tmp_root: &Path) -> Result<()> {
        for entry in fs::read_dir(tmp_root).io("list", tmp_root)? {
            let path = entry.io("list", tmp_root)?.path();
            let stale = if path.is_dir() {
                FileLock::try_acquire(&path.join(WORKDIR_LOCK))?.is_some()
            } else {
                // Loose files are temp files of atomic_write, which never outlive the store lock.
                true
            };
            if stale {
                tracing::debug!(path = %path.display(), "removing stale temporary data");
                remove_stale_entry(&path)?;
            }
        }
        Ok(())
    }
}

/// Removes a dead writer's leftovers. A tool it started may still be finishing its last
/// write (the parent-death SIGKILL is delivered asynchronously), so a directory that refills
/// while being removed is retried briefly before giving up.
fn remove_stale_entry(path: &Path) -> Result<()> {
    const ATTEMPTS: u32 = 20;
    for _ in 1..ATTEMPTS {
        match remove_any(path) {
            Err(StoreError::Io { ref source, .. })
                if source.kind() == std::io::ErrorKind::DirectoryNotEmpty =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
    remove_any(path)
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove work directory");
        }
    }
}

/// Removes a file, symlink or directory tree without following symlinks.
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).io("remove", path),
        Ok(_) => fs::remove_file(path).io("remove", path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).io("inspect", path),
    }
}

/// A `Command` for a tool that works inside a store work directory. The tool is killed when
/// the hull process that started it dies: a `kill -9` of hull must not leave a `mkfs.erofs`
/// or `debootstrap` writing into a work directory the next `Store::open` is removing.
pub(crate) fn tool_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    // SAFETY: the closure runs in the child between fork and exec and only makes one
    // async-signal-safe system call (prctl), touching no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    cmd
}

/// Runs an external tool, turning "not installed" and failures into actionable errors.
pub(crate) fn run_tool(
    tool: &'static str,
    package: &'static str,
    args: &[&std::ffi::OsStr],
) -> Result<()> {
    run_tool_env(tool, package, &[], args)
}

/// [`run_tool`] with extra environment variables.
pub(crate) fn run_tool_env(
    tool: &'static str,
    package: &'static str,
    env: &[(&str, &str)],
    args: &[&std::ffi::OsStr],
) -> Result<()> {
    let output = tool_command(tool)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| tool_spawn_error(tool, package, e))?;
    if output.status.success() {
        return Ok(());
    }
    Err(tool_failed(tool, args, &output.status, &output.stderr))
}

pub(crate) fn tool_spawn_error(
    tool: &'static str,
    package: &'static str,
    e: std::io::Error,
) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StoreError::ToolMissing { tool, package }
    } else {
        StoreError::Io {
            action: "run",
            path: tool.into(),
            source: e,
        }
    }
}

pub(crate) fn tool_failed(
    tool: &str,
    args: &[&std::ffi::OsStr],
    status: &std::process::ExitStatus,
    stderr: &[u8],
) -> StoreError {
    let stderr = String::from_utf8_lossy(stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    let command = std::iter::once(tool.to_owned())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    StoreError::ToolFailed {
        command,
        status: status.to_string(),
        stderr: tail,
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-28T02:20:00Z`), the format OCI uses.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Now, as RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm, no date crate needed.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_832_400), "2026-11-28T02:20:00Z");
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let target = dir.path().join("f");
        atomic_write(&target, b"one", &tmp).unwrap();
        atomic_write(&target, b"two", &tmp).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }

    #[test]
    fn stale_work_dirs_are_removed_but_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let live = WorkDir::create(dir.path()).unwrap();
        let stale = dir.path().join("work-dead");
        fs::create_dir(&stale).unwrap();
        WorkDir::remove_stale(dir.path()).unwrap();
        assert!(live.path().exists());
        assert!(!stale.exists());
    }
}
