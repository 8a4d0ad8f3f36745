//! Pseudo-terminals in the container's own devpts: exec sessions get one, and so does the
//! container's process with `-t` (Docker's `/dev/pts/0`, not the VM's console). The
//! container's side allocates its own, so the master reaches PID 1 over a socket.

use crate::error::SetupError;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

nix::ioctl_read_bad!(tiocgptn, libc::TIOCGPTN, libc::c_uint);
nix::ioctl_write_ptr_bad!(tiocsptlck, libc::TIOCSPTLCK, libc::c_int);
nix::ioctl_write_int_bad!(tiocgptpeer, libc::TIOCGPTPEER);

/// Opens a new pty in the devpts of the root `root` names: (master, non-blocking; slave).
/// The path is resolved inside that root, so its symlinks cannot point PID 1 elsewhere, and
/// the result must answer as a pty multiplexer.
pub fn open_pty_in(root: BorrowedFd<'_>) -> Result<(File, File), SetupError> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let master = nix::fcntl::openat2(root, "dev/pts/ptmx", how).map_err(|e| {
        SetupError::sys(
            "cannot allocate a terminal: open the container's /dev/pts/ptmx",
            e,
        )
    })?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one c_uint to the pointer, which outlives the call; on
    // anything but a pty master it fails with ENOTTY.
    unsafe { tiocgptn(master.as_raw_fd(), &mut number) }.map_err(|e| {
        SetupError::sys("the container's /dev/pts/ptmx is not a pty multiplexer", e)
    })?;
    let unlocked: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int from the pointer, which outlives the call.
    unsafe { tiocsptlck(master.as_raw_fd(), &unlocked) }
        .map_err(|e| SetupError::sys("unlock the pty", e))?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags as its int argument and returns a new fd.
    let slave = unsafe { tiocgptpeer(master.as_raw_fd(), flags) }
        .map_err(|e| SetupError::sys("open the pty", e))?;
    // SAFETY: the ioctl returned a new open fd that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok((File::from(master), File::from(slave)))
}

/// Sends `fd` over the unix socket `socket` (SCM_RIGHTS).
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<(), SetupError> {
    let fds = [fd.as_raw_fd()];
    let control = [ControlMessage::ScmRights(&fds)];
    let byte = [0u8];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(&byte)],
        &control,
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .map_err(|e| SetupError::sys("hand the terminal to hull-init", e))
}

/// Receives one fd sent by [`send_fd`]; None when the peer closed without sending one (it
/// failed before, and says why on its error pipe).
pub fn recv_fd(socket: impl AsFd) -> Option<OwnedFd> {
    let mut byte = [0u8];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = loop {
        match recvmsg::<()>(
            socket.as_fd().as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.ok()?,
        }
    };
    let mut received = None;
    for control in message.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = control {
            for raw in fds {
                // SAFETY: the kernel installed these fds for us; each is owned exactly once.
                let fd = unsafe { OwnedFd::from_raw_fd(raw) };
                if received.is_none() {
                    received = Some(fd);
                }
            }
        }
    }
    received
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::io::{Read, Write};

    #[test]
    fn an_fd_crosses_the_socket_and_a_closed_peer_sends_none() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        send_fd(a.as_fd(), write_end.as_fd()).unwrap();
        drop(write_end);
        let received = recv_fd(&b).expect("an fd");
        File::from(received).write_all(b"through").unwrap();
        let mut text = String::new();
        File::from(read_end).read_to_string(&mut text).unwrap();
        assert_eq!(text, "through");
        drop(a);
        assert!(recv_fd(&b).is_none());
    }
}
