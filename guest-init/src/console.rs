//! The container's consoles: hvc0 (tty, or stdin+stdout), hvc1 (stderr), hvc2 (control).

use crate::error::SetupError;
use nix::sys::termios::{self, SetArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);

/// The streams the container's stdio is connected to.
#[derive(Debug)]
pub struct Consoles {
    /// Where the container's stdin comes from (hvc0); `None`: stdin is empty.
    pub input: Option<File>,
    /// Where its stdout goes (and stderr when `errors` is `None`).
    pub output: File,
    /// Where its stderr goes.
    pub errors: Option<File>,
    /// Control messages from the host.
    pub control: Option<File>,
    /// hvc0 in terminal mode, and its path (bound on the container's /dev/console).
    pub tty: Option<(File, PathBuf)>,
}

impl Consoles {
    /// Tells the host the consoles are configured (hvc0 raw in no-tty mode): from now on
    /// stdin it sends reaches the container unechoed. Without a control port (a VMM started
    /// by hand with one console) there is no one to tell.
    pub fn announce_ready(&self) {
        if let Some(mut control) = self.control.as_ref() {
            let line = hull_protocol::GuestEvent::Ready.to_line();
            if let Err(e) = control.write_all(line.as_bytes()) {
                crate::log!("cannot tell the host the consoles are ready: {e}");
            }
        }
    }

    /// The stream setup errors are shown on (stderr, else stdout).
    pub fn error_stream(&self) -> &File {
        self.errors.as_ref().unwrap_or(&self.output)
    }
}

fn open_console(path: &Path) -> Option<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .ok()
}

/// Puts a tty in raw mode (cfmakeraw: no echo, no line editing, no \n -> \r\n), so bytes
/// cross it unchanged. Errors are ignored: a non-tty is already "raw".
pub fn make_raw(fd: &File) {
    if let Ok(mut attrs) = termios::tcgetattr(fd.as_fd()) {
        termios::cfmakeraw(&mut attrs);
        let _ = termios::tcsetattr(fd.as_fd(), SetArg::TCSANOW, &attrs);
    }
}

/// Opens the guest's consoles in `dev` for a container with or without a terminal. A
/// missing hvc0 falls back to `fallback` (the kernel console) for output; a missing hvc1
/// merges stderr into stdout; a missing hvc2 means no control channel.
pub fn open_guest_consoles(
    dev: &Path,
    terminal: bool,
    fallback: &Path,
) -> Result<Consoles, SetupError> {
    let stdio_path = dev.join(hull_protocol::CONSOLE_STDIO);
    let stdio = open_console(&stdio_path);
    let control = open_console(&dev.join(hull_protocol::CONSOLE_CONTROL));
    if let Some(control) = &control {
        make_raw(control);
    }
    let errors = if terminal {
        None
    } else {
        open_console(&dev.join(hull_protocol::CONSOLE_STDERR)).inspect(make_raw)
    };
    let Some(stdio) = stdio else {
        let output = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(fallback)
            .map_err(|e| SetupError::io("no hvc0 and cannot open", fallback, e))?;
        return Ok(Consoles {
            input: None,
            output,
            errors,
            control,
            tty: None,
        });
    };
    if terminal {
        // The container's terminal is a pty of its own (`pty.rs`); hvc0 only carries the
        // bytes, so it is raw like in no-tty mode, and the pty does the line discipline.
        make_raw(&stdio);
        let clone = || {
            stdio
                .try_clone()
                .map_err(|e| SetupError::io("cannot duplicate", &stdio_path, e))
        };
        return Ok(Consoles {
            input: Some(clone()?),
            output: clone()?,
            errors: None,
            control,
            tty: Some((stdio, stdio_path)),
        });
    }
    make_raw(&stdio);
    let input = stdio
        .try_clone()
        .map_err(|e| SetupError::io("cannot duplicate", &stdio_path, e))?;
    Ok(Consoles {
        input: Some(input),
        output: stdio,
        errors,
        control,
        tty: None,
    })
}

/// Sets a terminal's window size; the kernel sends SIGWINCH to its foreground group.
pub fn set_window_size(tty: &File, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which outlives the call; the
    // fd is an open file. A non-tty fd just fails with ENOTTY, which we ignore.
    let _ = unsafe { tiocswinsz(tty.as_raw_fd(), &size) };
}

/// In the container process: start a new session and make `tty` its controlling terminal.
pub fn take_controlling_tty(tty: &File) -> Result<(), SetupError> {
    nix::unistd::setsid().map_err(|e| SetupError::sys("setsid", e))?;
    set_controlling_tty(tty)
}

/// Makes `tty` the controlling terminal of this process's session (it leads one already).
pub fn set_controlling_tty(tty: &File) -> Result<(), SetupError> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal); the fd is an open file.
    unsafe { tiocsctty(tty.as_raw_fd(), 0) }
        .map(drop)
        .map_err(|e| SetupError::sys("make the terminal the controlling terminal (TIOCSCTTY)", e))
}
