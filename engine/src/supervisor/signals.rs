//! Signals sent to hull itself while it supervises a container in the foreground: forwarded
//! to the container (Docker's --sig-proxy), and SIGWINCH turned into a resize.

use super::control::ControlChannel;
use super::terminal;
use hull_protocol::ControlMessage;
use nix::sys::signal::{SigSet, Signal};

/// Signals proxied to the container's process (also by `hull attach`).
pub const PROXIED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// A signal hull received, as the container (or exec'd process) should get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxied {
    /// One of [`PROXIED`], by number.
    Signal(i32),
    /// SIGWINCH: the host terminal's new size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

/// Blocks the [`PROXIED`] signals (if `signals`) and SIGWINCH (if `resize`) in the calling
/// thread (threads spawned after inherit the mask) and hands each to `deliver` on a
/// dedicated thread. Call after the VMM is spawned, so it starts with the default mask.
pub fn proxy(signals: bool, resize: bool, mut deliver: impl FnMut(Proxied) + Send + 'static) {
    let mut set = SigSet::empty();
    if resize {
        set.add(Signal::SIGWINCH);
    }
    if signals {
        for signal in PROXIED {
            set.add(signal);
        }
    }
    if set.thread_block().is_err() {
        tracing::warn!("cannot block signals: Ctrl-C will end hull, not the container");
        return;
    }
    std::thread::spawn(move || loop {
        let Ok(signal) = set.wait() else { continue };
        if signal == Signal::SIGWINCH {
            if let Some((rows, cols)) = terminal::size() {
                deliver(Proxied::Resize { rows, cols });
            }
        } else {
            deliver(Proxied::Signal(signal as i32));
        }
    });
}

/// The foreground supervisor's proxy: signals (if `proxy_signals`, Docker's --sig-proxy)
/// and resizes become control messages to the guest.
pub fn forward(channel: ControlChannel, proxy_signals: bool) {
    proxy(proxy_signals, true, move |proxied| {
        channel.send(&match proxied {
            Proxied::Signal(signal) => ControlMessage::Signal { signal },
            Proxied::Resize { rows, cols } => ControlMessage::Resize { rows, cols },
        });
    });
}
