//! The guest's "consoles are configured" handshake. hull-init writes a
//! [`GuestEvent::Ready`] line on hvc2 once hvc0 is in raw mode; stdin the host sent earlier
//! would be echoed back by the guest tty's default line discipline (`shout\r\n` showing up in
//! the container's output). So the supervisor holds the container's stdin until it has read
//! that line.
//!
//! Both engines (QEMU and hull-vmm) offer the control port. An engine without one would
//! have no handshake: the gate would be open from the start, and stdin typed in the first
//! moments of the boot could be echoed.

use hull_protocol::GuestEvent;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};

/// Longest guest event line read at once (the guest keeps every event shorter).
const MAX_EVENT_LINE: u64 = hull_protocol::MAX_EVENT_LINE as u64;

/// Opens once the guest is ready for stdin (or can no longer become ready).
#[derive(Clone, Default)]
pub struct ReadyGate {
    state: Arc<(Mutex<bool>, Condvar)>,
}

impl ReadyGate {
    /// A gate that is already open (engines without a control port).
    pub fn open() -> Self {
        let gate = Self::default();
        gate.release();
        gate
    }

    /// Reads guest events from `events` on a thread; the gate opens on
    /// [`GuestEvent::Ready`], or when the port closes (the VM is gone: nothing to hold for).
    /// Every event, `Ready` included, is also handed to `route` (exec sessions); `route` is
    /// dropped when the port closes.
    pub fn watch(
        events: Box<dyn Read + Send>,
        mut route: impl FnMut(GuestEvent) + Send + 'static,
    ) -> Self {
        let gate = Self::default();
        let opener = gate.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(events);
            let mut line = Vec::new();
            loop {
                line.clear();
                // The guest is untrusted: a line without an end is read in bounded pieces,
                // none of which parses as an event.
                match (&mut reader)
                    .take(MAX_EVENT_LINE)
                    .read_until(b'\n', &mut line)
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => match GuestEvent::parse_line(&line) {
                        Some(GuestEvent::Ready) => {
                            tracing::debug!("guest ready for stdin");
                            opener.release();
                            route(GuestEvent::Ready);
                        }
                        Some(event) => route(event),
                        // Echo of our own control messages (sent before the guest made hvc2
                        // raw) or a newer guest's events: not for us.
                        None => {}
                    },
                }
            }
            opener.release();
        });
        gate
    }

    fn release(&self) {
        let (open, changed) = &*self.state;
        *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        changed.notify_all();
    }

    /// Blocks until the gate is open.
    pub fn wait(&self) {
        let (open, changed) = &*self.state;
        let mut guard = open.lock().unwrap_or_else(|e| e.into_inner());
        while !*guard {
            guard = changed.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether the gate is open now.
    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        *self.state.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    fn opens_within(gate: &ReadyGate, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if gate.is_open() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        gate.is_open()
    }

    #[test]
    fn opens_on_ready_and_ignores_echoed_control_lines() {
        let (mut guest, host) = UnixStream::pair().unwrap();
        let gate = ReadyGate::watch(Box::new(host), |_| {});
        guest.write_all(b"{\"type\":\"stdin_eof\"}\r\n").unwrap();
        assert!(!opens_within(&gate, Duration::from_millis(100)));
        guest.write_all(b"{\"type\":\"ready\"}\n").unwrap();
        assert!(opens_within(&gate, Duration::from_secs(5)));
        gate.wait();
    }

    #[test]
    fn opens_when_the_port_closes() {
        let (guest, host) = UnixStream::pair().unwrap();
        let gate = ReadyGate::watch(Box::new(host), |_| {});
        drop(guest);
        assert!(opens_within(&gate, Duration::from_secs(5)));
    }

    #[test]
    fn engines_without_control_port_never_hold_stdin() {
        assert!(ReadyGate::open().is_open());
    }
}
