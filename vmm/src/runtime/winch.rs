//! Terminal size for the virtio console: the initial rows/cols of the VMM's stdin tty, and
//! SIGWINCH (via a signalfd on the event loop) pushing resizes to the guest.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;

use crate::devices::virtio::console::ConsoleResizer;

/// (rows, cols) of the terminal on `fd`, None when it is not a terminal.
pub fn tty_size(fd: RawFd) -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid struct we pass; any fd is
    // acceptable (non-terminals fail with ENOTTY).
    let ret = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    (ret == 0).then_some((size.ws_row, size.ws_col))
}

/// Forwards SIGWINCH on the VMM to the guest console's size.
pub struct WinchWatcher {
    signalfd: OwnedFd,
    tty: RawFd,
    resizer: ConsoleResizer,
}

impl WinchWatcher {
    /// Blocks SIGWINCH in the calling thread (threads spawned later inherit that, so call
    /// it before starting vCPUs) and reads it from a signalfd instead.
    pub fn new(tty: RawFd, resizer: ConsoleResizer) -> std::io::Result<Self> {
        // SAFETY: sigset manipulation on a local, zero-initialised sigset_t.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGWINCH);
            set
        };
        // SAFETY: `set` is a valid sigset; the old mask is not needed.
        let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if ret != 0 {
            return Err(std::io::Error::from_raw_os_error(ret));
        }
        // SAFETY: creates a new fd from a valid sigset; checked below.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let signalfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            signalfd,
            tty,
            resizer,
        })
    }
}

impl MutEventSubscriber for WinchWatcher {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        // Drain every queued signalfd_siginfo (128 bytes each); the size is what matters.
        let mut info = [0u8; 128];
        // SAFETY: reads into a buffer of exactly the length passed.
        while unsafe {
            libc::read(
                self.signalfd.as_raw_fd(),
                info.as_mut_ptr().cast(),
                info.len(),
            )
        } > 0
        {}
        if let Some((rows, cols)) = tty_size(self.tty) {
            self.resizer.set_size(rows, cols);
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.signalfd, EventSet::IN)) {
            tracing::warn!("cannot watch SIGWINCH ({e:?}): the guest will not see resizes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_terminals_have_no_size() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(tty_size(file.as_raw_fd()), None);
    }
}
