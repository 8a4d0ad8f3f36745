//! The VMM process of a running VM: one this hull process started (its child), or a
//! warm-pool VM's ([`super::warm::pool`]), started by another hull process and adopted
//! through a pidfd when a container claimed it.

use crate::container::liveness::ProcessRef;
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

/// A VMM process.
#[derive(Debug)]
pub enum VmmProcess {
    /// Started by this process: waited for as usual.
    Child(Child),
    /// Started by another hull process (which is gone): watched through a pidfd.
    Adopted(Adopted),
}

/// A process that is not ours, held by a pidfd (so its pid cannot be reused under us).
#[derive(Debug)]
pub struct Adopted {
    pid: u32,
    pidfd: OwnedFd,
    ended: bool,
}

impl Adopted {
    /// Adopts `process` if it is still the process recorded (same pid and start time).
    pub fn open(process: ProcessRef) -> io::Result<Self> {
        let pid = u32::try_from(process.pid)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "negative pid"))?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
        // passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, process.pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(|_| io::Error::other("pidfd out of range"))?;
        // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
        // The pidfd was opened before this check: if the start time still matches, the fd
        // refers to the recorded process and not to a later one with its pid.
        if !process.is_alive() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("process {pid} has ended"),
            ));
        }
        Ok(Self {
            pid,
            pidfd,
            ended: false,
        })
    }

    fn wait_readable(&mut self, timeout_ms: i32) -> io::Result<bool> {
        if self.ended {
            return Ok(true);
        }
        let mut fds = [nix::poll::PollFd::new(
            self.pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let timeout =
            nix::poll::PollTimeout::try_from(timeout_ms).unwrap_or(nix::poll::PollTimeout::NONE);
        loop {
            match nix::poll::poll(&mut fds, timeout) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    self.ended = true;
                    return Ok(true);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// What an adopted VMM's end looks like: it is not our child, so its real status is
/// unknown; a VMM that ends without the guest reporting the container's status was killed
/// (a pool VM's QEMU is only ever ended by its guest or by a kill).
fn adopted_exit_status() -> ExitStatus {
    ExitStatus::from_raw(libc::SIGKILL)
}

impl VmmProcess {
    /// Its pid.
    pub fn id(&self) -> u32 {
        match self {
            Self::Child(child) => child.id(),
            Self::Adopted(adopted) => adopted.pid,
        }
    }

    /// Sends it SIGKILL.
    pub fn kill(&mut self) -> io::Result<()> {
        match self {
            Self::Child(child) => child.kill(),
            Self::Adopted(adopted) => {
                // SAFETY: pidfd_send_signal takes the pidfd, a signal, a null siginfo and
                // flags; no memory is passed.
                let sent = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        std::os::fd::AsRawFd::as_raw_fd(&adopted.pidfd),
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                if sent < 0 {
                    let err = io::Error::last_os_error();
                    // Already gone: nothing to kill.
                    if err.raw_os_error() != Some(libc::ESRCH) {
                        return Err(err);
                    }
                }
                Ok(())
            }
        }
    }

    /// Its status if it has ended.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self {
            Self::Child(child) => child.try_wait(),
            Self::Adopted(adopted) => Ok(adopted.wait_readable(0)?.then(adopted_exit_status)),
        }
    }

    /// Waits for it to end.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Self::Child(child) => child.wait(),
            Self::Adopted(adopted) => {
                adopted.wait_readable(-1)?;
                Ok(adopted_exit_status())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn an_adopted_process_is_watched_and_killed_through_its_pidfd() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let process = ProcessRef::of(child.id()).unwrap();
        let mut adopted = VmmProcess::Adopted(Adopted::open(process).unwrap());
        assert_eq!(adopted.id(), child.id());
        assert!(adopted.try_wait().unwrap().is_none());
        adopted.kill().unwrap();
        // The real parent reaps it; the adopter learns it ended.
        child.wait().unwrap();
        assert_eq!(adopted.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(adopted.try_wait().unwrap().is_some());
    }

    #[test]
    fn a_recorded_process_that_ended_is_not_adopted() {
        let mut child = Command::new("true").spawn().unwrap();
        let process = ProcessRef::of(child.id());
        child.wait().unwrap();
        if let Some(process) = process {
            assert!(Adopted::open(process).is_err());
        }
    }
}
