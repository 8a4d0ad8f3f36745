//! The host terminal for `-t`: raw mode for the session (restored on drop) and its size.

use nix::sys::termios::{self, SetArg, Termios};
use std::io::IsTerminal;

/// Puts stdin's terminal in raw mode until dropped, so every key (Ctrl-C included) goes to
/// the container as a byte.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin if it is a terminal; None otherwise.
    pub fn enable() -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// (rows, cols) of the terminal on stdout or stdin, if either is one.
pub fn size() -> Option<(u16, u16)> {
    let from = |fd: rustix::fd::BorrowedFd<'_>| {
        rustix::termios::tcgetwinsize(fd)
            .ok()
            .filter(|w| w.ws_row > 0 && w.ws_col > 0)
            .map(|w| (w.ws_row, w.ws_col))
    };
    from(rustix::stdio::stdout()).or_else(|| from(rustix::stdio::stdin()))
}
