//! The console's private, non-blocking handle on a host fd.
//!
//! The console must never block the event loop, so its host I/O is non-blocking. But
//! O_NONBLOCK belongs to the open file description, not the fd: setting it on hull-vmm's
//! stdin/stdout (or a dup of them) also sets it for the parent shell sharing that terminal,
//! and for our own stderr when it is the same terminal. The flag then outlives hull-vmm and
//! the next `eprintln!` (ours or the shell's child's) fails with EAGAIN. So the console gets
//! its own description where it can:
//!
//! * tty, pty slave, pipe, FIFO: reopened through `/proc/self/fd/N` with O_NONBLOCK (a new
//!   description; the original keeps its flags).
//! * socket: a dup, with every `recv`/`send` made non-blocking by MSG_DONTWAIT.
//! * regular file: a dup; reads and writes never wait anyway.
//! * anything else (pty master, whose reopen would allocate a new pty; a reopen refused):
//!   a dup with O_NONBLOCK set on the shared description, restored when the console is
//!   dropped.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Which way the console uses the fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Host input (guest RX).
    Read,
    /// Host output (guest TX).
    Write,
}

#[derive(Debug)]
enum Handle {
    /// Own description (or a regular file): plain read/write.
    File(File),
    /// A socket: recv/send with MSG_DONTWAIT.
    Socket(OwnedFd),
}

/// A host fd the console owns, non-blocking without touching anybody else's flags
/// (see the module docs for how, per kind of fd).
#[derive(Debug)]
pub(crate) struct HostFd {
    handle: Handle,
    /// Flags to put back on a shared description we had to make non-blocking.
    restore_flags: Option<libc::c_int>,
}

impl HostFd {
    /// Takes a private non-blocking handle on `fd`; `fd` itself is left as it was.
    pub(crate) fn new(fd: BorrowedFd<'_>, access: Access) -> io::Result<Self> {
        let kind = file_kind(fd)?;
        if kind == libc::S_IFSOCK {
            return Ok(Self {
                handle: Handle::Socket(fd.try_clone_to_owned()?),
                restore_flags: None,
            });
        }
        if kind == libc::S_IFREG {
            return Ok(Self {
                handle: Handle::File(File::from(fd.try_clone_to_owned()?)),
                restore_flags: None,
            });
        }
        if !is_pty_master(fd) {
            match reopen_nonblocking(fd, access) {
                Ok(file) => {
                    return Ok(Self {
                        handle: Handle::File(file),
                        restore_flags: None,
                    })
                }
                Err(err) => tracing::debug!(
                    "console: cannot reopen fd {} ({err}); sharing its flags",
                    fd.as_raw_fd()
                ),
            }
        }
        let own = fd.try_clone_to_owned()?;
        let flags = get_flags(own.as_fd())?;
        let restore_flags = if flags & libc::O_NONBLOCK == 0 {
            set_flags(own.as_fd(), flags | libc::O_NONBLOCK)?;
            Some(flags)
        } else {
            None
        };
        Ok(Self {
            handle: Handle::File(File::from(own)),
            restore_flags,
        })
    }
}

impl Drop for HostFd {
    fn drop(&mut self) {
        if let Some(flags) = self.restore_flags {
            if let Err(err) = set_flags(self.as_fd(), flags) {
                tracing::warn!("console: cannot restore the flags of a host fd: {err}");
            }
        }
    }
}

impl AsFd for HostFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.handle {
            Handle::File(file) => file.as_fd(),
            Handle::Socket(fd) => fd.as_fd(),
        }
    }
}

impl AsRawFd for HostFd {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl Read for HostFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.handle {
            Handle::File(file) => file.read(buf),
            Handle::Socket(fd) => {
                // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we
                // borrow mutably for the call; `fd` is an open socket we own.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                syscall_len(n)
            }
        }
    }
}

impl Write for HostFd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.handle {
            Handle::File(file) => file.write(buf),
            Handle::Socket(fd) => {
                // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`; `fd` is an
                // open socket we own. MSG_NOSIGNAL: a closed peer is an EPIPE error, not a
                // SIGPIPE.
                let n = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                syscall_len(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn syscall_len(n: isize) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

fn file_kind(fd: BorrowedFd<'_>) -> io::Result<libc::mode_t> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` into `stat`, which is large enough for it.
    if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it filled in the whole struct.
    let stat = unsafe { stat.assume_init() };
    Ok(stat.st_mode & libc::S_IFMT)
}

/// A pty master: reopening /proc/self/fd/N would open /dev/ptmx, i.e. a brand new pty.
fn is_pty_master(fd: BorrowedFd<'_>) -> bool {
    let mut index: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into `index`; on anything but a pty master it
    // fails without writing.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut index) == 0 }
}

fn reopen_nonblocking(fd: BorrowedFd<'_>, access: Access) -> io::Result<File> {
    let path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    let mode = match access {
        Access::Read => libc::O_RDONLY,
        Access::Write => libc::O_WRONLY,
    };
    // SAFETY: `path` is NUL-terminated and outlives the call. O_NOCTTY: a terminal must not
    // become our controlling terminal by being reopened.
    let raw = unsafe {
        libc::open(
            path.as_ptr().cast(),
            mode | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd from open(2) that nothing else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(raw) }))
}

fn get_flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL only reads the status flags of an open fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

fn set_flags(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFL only changes the status flags of an open fd; no memory is involved.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::devices::virtio::test_utils::pty;

    fn nonblocking(fd: BorrowedFd<'_>) -> bool {
        crate::devices::virtio::test_utils::is_nonblocking(fd.as_raw_fd())
    }

    fn pipe() -> (File, File) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into the array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both fds are fresh and owned by nobody else.
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
    }

    #[test]
    fn terminal_shared_with_the_parent_stays_blocking() {
        let Some((mut master, slave)) = pty() else {
            println!("skipped: no pty available on this host");
            return;
        };
        let mut input = HostFd::new(slave.as_fd(), Access::Read).unwrap();
        let mut output = HostFd::new(slave.as_fd(), Access::Write).unwrap();
        assert!(
            !nonblocking(slave.as_fd()),
            "the shell's terminal keeps blocking mode"
        );
        assert!(nonblocking(input.as_fd()) && nonblocking(output.as_fd()));
        let mut buf = [0u8; 16];
        let err = input.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // The private handles are still the same terminal.
        output.write_all(b"ok").unwrap();
        let mut got = [0u8; 2];
        master.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ok");
        drop((input, output));
        assert!(!nonblocking(slave.as_fd()));
    }

    #[test]
    fn pipes_and_sockets_keep_their_flags() {
        let (read_end, mut write_end) = pipe();
        let mut input = HostFd::new(read_end.as_fd(), Access::Read).unwrap();
        assert!(!nonblocking(read_end.as_fd()));
        let mut buf = [0u8; 4];
        assert_eq!(
            input.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        write_end.write_all(b"abc").unwrap();
        assert_eq!(input.read(&mut buf).unwrap(), 3);

        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut sock = HostFd::new(ours.as_fd(), Access::Read).unwrap();
        assert_eq!(
            sock.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(!nonblocking(ours.as_fd()), "socket flags untouched");
        theirs.write_all(b"x").unwrap();
        assert_eq!(sock.read(&mut buf).unwrap(), 1);
        sock.write_all(b"yz").unwrap();
        let mut got = [0u8; 2];
        theirs.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"yz");
    }

    #[test]
    fn pty_master_is_not_reopened_and_its_flags_come_back() {
        let Some((master, _slave)) = pty() else {
            println!("skipped: no pty available on this host");
            return;
        };
        let handle = HostFd::new(master.as_fd(), Access::Read).unwrap();
        assert!(
            nonblocking(master.as_fd()),
            "shared description, made non-blocking"
        );
        assert!(is_pty_master(handle.as_fd()), "same pty, not a new one");
        drop(handle);
        assert!(!nonblocking(master.as_fd()), "flags restored on drop");
    }
}
