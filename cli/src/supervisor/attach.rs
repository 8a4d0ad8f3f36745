//! `hull attach` sessions, served by the supervisor on its `control.sock`.
//!
//! Protocol: the client sends the line `{"request":"attach"}`; from then on both directions
//! carry frames: 1 byte kind, 4 bytes big-endian payload length (at most [`MAX_FRAME`]),
//! the payload.
//! - client -> supervisor: [`STDIN`] bytes for the container's stdin (dropped unless the
//!   container was started with `-i`; held until the guest is ready, see [`super::ready`]).
//!   The client's own EOF leaves the container's stdin open, as Docker does for `run -d -i`.
//! - supervisor -> client: [`STDOUT`] / [`STDERR`] output from the moment of attaching, then
//!   one [`EXIT`] frame (4 bytes big-endian i32: the container's status) when the container
//!   has ended, and the supervisor closes the connection.
//!
//! A client that stops reading for [`WRITE_TIMEOUT`] is dropped, so it cannot stall the
//! console pumps that also feed the container log.

use super::ready::ReadyGate;
use anyhow::{Context, Result};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Frame kind: bytes for the container's stdin (client -> supervisor).
pub const STDIN: u8 = 0;
/// Frame kind: container stdout (supervisor -> client).
pub const STDOUT: u8 = 1;
/// Frame kind: container stderr (supervisor -> client).
pub const STDERR: u8 = 2;
/// Frame kind: the container's exit status, big-endian i32 (supervisor -> client, last).
pub const EXIT: u8 = 3;
/// Largest payload either side accepts: a bigger length is a broken peer.
pub const MAX_FRAME: usize = 64 * 1024;
/// How long a write to an attached client may block before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes one frame (`payload` longer than [`MAX_FRAME`] is split; an empty one is one
/// empty frame: a bare signal such as `exec`'s STDIN_EOF).
pub fn write_frame(to: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let empty: [&[u8]; 1] = [&[]];
    let chunks: Box<dyn Iterator<Item = &[u8]>> = if payload.is_empty() {
        Box::new(empty.into_iter())
    } else {
        Box::new(payload.chunks(MAX_FRAME))
    };
    for chunk in chunks {
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        let mut frame = Vec::with_capacity(5 + chunk.len());
        frame.push(kind);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(chunk);
        to.write_all(&frame)?;
    }
    to.flush()
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(from: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match from.read(&mut header[..1])? {
        0 => return Ok(None),
        _ => from.read_exact(&mut header[1..])?,
    }
    let len = usize::try_from(u32::from_be_bytes([
        header[1], header[2], header[3], header[4],
    ]))
    .unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes exceeds {MAX_FRAME}"),
        ));
    }
    let mut payload = vec![0u8; len];
    from.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

/// Opens an attach session on the supervisor's `socket`.
pub fn connect(socket: &Path) -> Result<UnixStream> {
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot reach the container's supervisor at {}",
            socket.display()
        )
    })?;
    let mut line = serde_json::to_string(&super::control::Request::Attach)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    Ok(stream)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split_large_payloads() {
        let mut wire = Vec::new();
        write_frame(&mut wire, STDOUT, b"hello").unwrap();
        write_frame(&mut wire, STDERR, &vec![7u8; MAX_FRAME + 1]).unwrap();
        let mut from = wire.as_slice();
        assert_eq!(
            read_frame(&mut from).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        assert_eq!(read_frame(&mut from).unwrap().unwrap().1.len(), MAX_FRAME);
        assert_eq!(read_frame(&mut from).unwrap(), Some((STDERR, vec![7u8])));
        assert_eq!(read_frame(&mut from).unwrap(), None);
        let mut wire = Vec::new();
        write_frame(&mut wire, EXIT, &[]).unwrap();
        assert_eq!(
            wire,
            [EXIT, 0, 0, 0, 0],
            "an empty payload is one empty frame"
        );
    }

    #[test]
    fn oversized_or_truncated_frames_are_errors_not_panics() {
        let mut huge = vec![STDIN];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_frame(&mut huge.as_slice()).is_err());
        let truncated = [STDIN, 0, 0, 0, 9, b'x'];
        assert!(read_frame(&mut truncated.as_slice()).is_err());
    }
}
