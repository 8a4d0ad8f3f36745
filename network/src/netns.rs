//! Network namespaces: a handle on one (an open `/proc/PID/ns/net`, which keeps the
//! namespace alive while it is open) and [`in_namespace`], which runs work inside one.

use crate::error::{Error, IoContext, Result};
use nix::sched::CloneFlags;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// An open network namespace.
#[derive(Debug)]
pub struct NetnsHandle {
    fd: OwnedFd,
}

impl NetnsHandle {
    /// The network namespace of process `pid` (of its main thread).
    pub fn of_process(pid: u32) -> Result<Self> {
        Self::open(Path::new(&format!("/proc/{pid}/ns/net")))
    }

    /// The namespace file at `path` (`/proc/PID/task/TID/ns/net`, a bind mount of one).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).context(|| format!("cannot open {}", path.display()))?;
        Ok(Self { fd: file.into() })
    }

    /// The calling thread's network namespace.
    pub fn current() -> Result<Self> {
        let path = "/proc/thread-self/ns/net";
        let file = File::open(path).context(|| format!("cannot open {path}"))?;
        Ok(Self { fd: file.into() })
    }

    /// Another handle on the same namespace.
    pub fn try_clone(&self) -> Result<Self> {
        let fd = self
            .fd
            .try_clone()
            .context(|| "cannot duplicate a namespace handle".into())?;
        Ok(Self { fd })
    }

    /// The namespace's inode: equal for handles on the same namespace.
    pub fn inode(&self) -> Result<u64> {
        let stat =
            nix::sys::stat::fstat(self.fd.as_fd()).context(|| "cannot stat a namespace".into())?;
        Ok(stat.st_ino)
    }
}

impl AsFd for NetnsHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<NetnsHandle> for OwnedFd {
    fn from(handle: NetnsHandle) -> Self {
        handle.fd
    }
}

/// Runs `work` on a fresh thread that has entered `netns` (setns(CLONE_NEWNET)), and
/// returns its result. Sockets, taps and netlink handles made there belong to `netns`
/// for their whole life, also after the thread ends, so this is how hull connects into a
/// network or creates a tap on its bridge. The calling thread is never moved.
pub fn in_namespace<T: Send>(netns: &NetnsHandle, work: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("hull-netns".into())
            .spawn_scoped(scope, || {
                nix::sched::setns(netns.as_fd(), CloneFlags::CLONE_NEWNET)
                    .context(|| "cannot enter the network's namespace".into())?;
                Ok(work())
            })
            .map_err(|err| Error::io("cannot start a thread", err))?;
        match thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
