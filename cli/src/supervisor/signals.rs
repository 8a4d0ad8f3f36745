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

/// Blocks the proxied signals and SIGWINCH in the calling thread (threads spawned after
/// inherit the mask) and handles them on a dedicated thread. Call after the VMM is spawned,
/// so it starts with the default mask.
pub fn forward(channel: ControlChannel, proxy: bool) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    if proxy {
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
                channel.send(&ControlMessage::Resize { rows, cols });
            }
        } else {
            channel.send(&ControlMessage::Signal {
                signal: signal as i32,
            });
        }
    });
}
