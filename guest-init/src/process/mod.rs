//! Starting a process from PID 1, the parts the container's own process ([`crate::supervisor`])
//! and `hull exec` processes ([`crate::session`]) share: pipes, stdio wiring, the fork that
//! reports setup errors, signal reset, entering a root, Docker's exit status, and the final
//! exec ([`exec`]).

pub mod exec;

use crate::error::SetupError;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, ForkResult};
use std::convert::Infallible;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), SetupError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| SetupError::sys("pipe2", e))
}

/// Makes `fd` non-blocking (PID 1 never blocks on a child's pipe).
pub(crate) fn set_nonblocking(fd: &impl AsFd) -> Result<(), SetupError> {
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map(drop)
        .map_err(|e| SetupError::sys("make a pipe non-blocking", e))
}

/// One read(2), retried on EINTR.
pub(crate) fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// In a forked child: `stdin`, `stdout` and `stderr` become fds 0, 1 and 2.
pub(crate) fn dup_stdio(
    stdin: &impl AsFd,
    stdout: &impl AsFd,
    stderr: &impl AsFd,
) -> Result<(), SetupError> {
    dup2_stdin(stdin).map_err(|e| SetupError::sys("dup2 stdin", e))?;
    dup2_stdout(stdout).map_err(|e| SetupError::sys("dup2 stdout", e))?;
    dup2_stderr(stderr).map_err(|e| SetupError::sys("dup2 stderr", e))
}

/// In a forked child without a terminal: its own session (signals for PID 1's terminal
/// never reach it), with `stdin`, `stdout` and `stderr` as fds 0, 1 and 2.
pub(crate) fn own_session_on_pipes(
    stdin: &impl AsFd,
    stdout: &impl AsFd,
    stderr: &impl AsFd,
) -> Result<(), SetupError> {
    nix::unistd::setsid().map_err(|e| SetupError::sys("setsid", e))?;
    dup_stdio(stdin, stdout, stderr)
}

/// In a forked child: the directory `root` (opened before any setns: the mount namespace
/// changes what a path means) becomes `/`.
pub(crate) fn enter_root(root: &File) -> Result<(), SetupError> {
    nix::unistd::fchdir(root).map_err(|e| SetupError::sys("enter the container's root", e))?;
    nix::unistd::chroot(".").map_err(|e| SetupError::sys("chroot into the container's root", e))?;
    nix::unistd::chdir("/").map_err(|e| SetupError::sys("chdir /", e))
}

/// Resets what PID 1 changed about signals: the mask (SIGCHLD blocked) and Rust's
/// SIG_IGN for SIGPIPE, both of which exec would pass on to the container.
pub(crate) fn reset_signals() -> Result<(), SetupError> {
    SigSet::empty()
        .thread_set_mask()
        .map_err(|e| SetupError::sys("reset the signal mask", e))?;
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: installing SIG_DFL involves no handler code.
        let _ = unsafe { sigaction(signal, &default) };
    }
    Ok(())
}

/// Forks a child that runs `become_process`, which only returns if it failed (it ends in
/// exec). The failure is reported on the error pipe as one byte of exit status then the
/// message, and the child `_exit`s with that status. In the parent `error_w` is closed, so
/// the pipe's read end (O_CLOEXEC) sees EOF once the child has exec'd. Used for the
/// container process and for `hull exec` processes.
pub(crate) fn fork_reporting_errors(
    error_w: OwnedFd,
    become_process: impl FnOnce() -> Result<Infallible, SetupError>,
) -> Result<nix::unistd::Pid, SetupError> {
    // SAFETY: hull-init is single-threaded (no thread is ever spawned), so the child may
    // run arbitrary code after fork.
    match unsafe { nix::unistd::fork() }.map_err(|e| SetupError::sys("fork", e))? {
        ForkResult::Child => {
            let error = match become_process() {
                Err(e) => e,
                Ok(never) => match never {},
            };
            let code = error.exit_code();
            let mut report = vec![u8::try_from(code).unwrap_or(125)];
            report.extend_from_slice(error.to_string().as_bytes());
            let _ = File::from(error_w).write_all(&report);
            // SAFETY: _exit only ends the process; no Rust state survives it. exit() would
            // run PID 1's atexit handlers and flush its stdio in this forked copy.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// Exit status of a finished process as Docker reports it: its code, or 128 + the signal.
pub fn docker_status(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hull_protocol::RunResult;

    #[test]
    fn signal_death_is_128_plus_n() {
        let pid = nix::unistd::Pid::from_raw(42);
        assert_eq!(docker_status(WaitStatus::Exited(pid, 7)), Some(7));
        assert_eq!(
            docker_status(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(RunResult::signaled(Signal::SIGTERM as i32).exit_code, 143);
    }

    #[test]
    fn pipes_carry_bytes_and_read_some_sees_eof() {
        let (read_end, write_end) = pipe().unwrap();
        set_nonblocking(&read_end).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read_some(read_end.as_fd(), &mut buf), Err(Errno::EAGAIN));
        File::from(write_end).write_all(b"hi").unwrap();
        assert_eq!(read_some(read_end.as_fd(), &mut buf), Ok(2));
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(
            read_some(read_end.as_fd(), &mut buf),
            Ok(0),
            "EOF once the writer is gone"
        );
    }
}
