//! `hull attach` sessions, served by the supervisor on its `control.sock`.
//!
//! Protocol: the client sends the line `{"request":"attach"}`; from then on both directions
//! carry [`super::wire`] frames.
//! - client -> supervisor: [`super::wire::STDIN`] bytes for the container's stdin (dropped unless the
//!   container was started with `-i`; held until the guest is ready, see [`super::ready`]).
//!   The client's own EOF leaves the container's stdin open, as Docker does for `run -d -i`.
//! - supervisor -> client: [`STDOUT`] / [`STDERR`] output from the moment of attaching, then
//!   one [`EXIT`] frame (4 bytes big-endian i32: the container's status) when the container
//!   has ended, and the supervisor closes the connection.
//!
//! A client that stops reading for [`WRITE_TIMEOUT`] is dropped, so it cannot stall the
//! console pumps that also feed the container log.

use super::ready::ReadyGate;
use super::wire::{read_frame, write_frame, EXIT, STDIN};
pub use super::wire::{STDERR, STDOUT};
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a write to an attached client may block before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

type SharedWriter = Arc<Mutex<Option<Box<dyn Write + Send>>>>;

/// The attached clients of one container, and its stdin while nobody else owns it.
#[derive(Clone)]
pub struct Attachments {
    clients: Arc<Mutex<Vec<UnixStream>>>,
    stdin: SharedWriter,
    ready: ReadyGate,
}

impl Attachments {
    /// No clients yet; client input waits for `ready`.
    pub fn new(ready: ReadyGate) -> Self {
        Self {
            clients: Arc::default(),
            stdin: Arc::default(),
            ready,
        }
    }

    /// Gives attached clients the container's stdin (the detached `-i` case). Holding it
    /// also keeps hvc0's write side open: closing it would read as a hangup in the guest.
    pub fn set_stdin(&self, stdin: Box<dyn Write + Send>) {
        *self.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(stdin);
    }

    /// Adds a client whose request line was read from `reader`: it receives output from now
    /// on, and its stdin frames go to the container on a thread of their own.
    pub fn add(&self, mut reader: BufReader<UnixStream>) {
        let Ok(output) = reader.get_ref().try_clone() else {
            return;
        };
        let _ = output.set_write_timeout(Some(WRITE_TIMEOUT));
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(output);
        let stdin = Arc::clone(&self.stdin);
        let ready = self.ready.clone();
        std::thread::spawn(move || {
            while let Ok(Some((kind, bytes))) = read_frame(&mut reader) {
                if kind != STDIN {
                    continue;
                }
                ready.wait();
                let mut guard = stdin.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(to) = guard.as_mut() {
                    if to.write_all(&bytes).and_then(|()| to.flush()).is_err() {
                        // The guest's stdin is gone (the container ended): stop forwarding.
                        *guard = None;
                    }
                }
            }
        });
    }

    /// Sends one frame to every client, dropping those that fail.
    fn broadcast(&self, kind: u8, payload: &[u8]) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain_mut(|client| write_frame(client, kind, payload).is_ok());
    }

    /// Tells every client how the container ended and closes their connections.
    pub fn finish(&self, status: i32) {
        self.broadcast(EXIT, &status.to_be_bytes());
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        for client in clients.drain(..) {
            let _ = client.shutdown(std::net::Shutdown::Both);
        }
    }

    /// A writer for an output pump: the bytes go to `first` (the host terminal, if any) and
    /// to every attached client as `kind` frames.
    pub fn tee(&self, kind: u8, first: Option<Box<dyn Write + Send>>) -> Box<dyn Write + Send> {
        Box::new(Tee {
            first,
            attachments: self.clone(),
            kind,
        })
    }
}

/// See [`Attachments::tee`].
struct Tee {
    first: Option<Box<dyn Write + Send>>,
    attachments: Attachments,
    kind: u8,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(first) = self.first.as_mut() {
            // The reader may have gone (`hull run | head`): attached clients still get it.
            if first.write_all(buf).and_then(|()| first.flush()).is_err() {
                self.first = None;
            }
        }
        self.attachments.broadcast(self.kind, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
