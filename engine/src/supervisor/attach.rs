//! `hull attach` sessions, served by the supervisor on its `control.sock`.
//!
//! Protocol: the client sends the line `{"request":"attach"}`; from then on both directions
//! carry [`super::wire`] frames.
//! - client -> supervisor: [`super::wire::STDIN`] bytes for the container's stdin (dropped unless the
//!   container was started with `-i`; held until the guest is ready, see [`super::ready`]).
//!   The client's own EOF leaves the container's stdin open, as Docker does for `run -d -i`;
//!   a [`super::wire::STDIN_EOF`] frame closes it (Docker's `StdinOnce`: `docker run -i`).
//! - supervisor -> client: [`STDOUT`] / [`STDERR`] output from the moment of attaching, then
//!   one [`EXIT`] frame (4 bytes big-endian i32: the container's status) when the container
//!   has ended, and the supervisor closes the connection.
//!
//! A client that stops reading for [`WRITE_TIMEOUT`] is dropped, so it cannot stall the
//! console pumps that also feed the container log.
//!
//! When a client is known to be on its way (`run -it`: the client starts the supervisor,
//! then attaches), output before it arrives is held for it, up to [`HELD_OUTPUT_LIMIT`],
//! as Docker attaches before it starts the process.

use super::ready::ReadyGate;
use super::wire::{read_frame, write_frame, EXIT, STDIN, STDIN_EOF};
pub use super::wire::{STDERR, STDOUT};
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a write to an attached client may block before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this much output is held for a client that has not attached yet.
pub const HELD_OUTPUT_LIMIT: usize = 4 << 20;

type SharedWriter = Arc<Mutex<Option<Box<dyn Write + Send>>>>;
/// Closes the container's stdin after the given number of bytes in all were written.
type StdinCloser = Arc<Mutex<Option<Box<dyn FnOnce(u64) + Send>>>>;

/// The attached clients of one container, and its stdin while nobody else owns it.
#[derive(Clone)]
pub struct Attachments {
    clients: Arc<Mutex<Clients>>,
    stdin: SharedWriter,
    /// Bytes written to the container's stdin so far.
    stdin_bytes: Arc<std::sync::atomic::AtomicU64>,
    close_stdin: StdinCloser,
    ready: ReadyGate,
}

/// The connected clients, and the output held for the first one while it is expected.
#[derive(Default)]
struct Clients {
    streams: Vec<UnixStream>,
    /// Frames (kind, payload) for the expected first client; None once it came (or when
    /// none is expected).
    held: Option<Vec<(u8, Vec<u8>)>>,
    held_bytes: usize,
}

impl Attachments {
    /// No clients yet; client input waits for `ready`. With `hold_for_first_client`, output
    /// written before the first client attaches is kept for it.
    pub fn new(ready: ReadyGate, hold_for_first_client: bool) -> Self {
        Self {
            clients: Arc::new(Mutex::new(Clients {
                held: hold_for_first_client.then(Vec::new),
                ..Clients::default()
            })),
            stdin: Arc::default(),
            stdin_bytes: Arc::default(),
            close_stdin: Arc::default(),
            ready,
        }
    }

    /// How a client's STDIN_EOF closes the container's stdin (told how many bytes it was
    /// given in all); without one, STDIN_EOF is ignored.
    pub fn set_stdin_closer(&self, close: impl FnOnce(u64) + Send + 'static) {
        *self.close_stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(close));
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
        {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            let mut output = output;
            // What was held for it goes first, under the lock: nothing overtakes it.
            let held = clients.held.take().unwrap_or_default();
            clients.held_bytes = 0;
            if held
                .iter()
                .all(|(kind, payload)| write_frame(&mut output, *kind, payload).is_ok())
            {
                clients.streams.push(output);
            }
        }
        let stdin = Arc::clone(&self.stdin);
        let written = Arc::clone(&self.stdin_bytes);
        let close = Arc::clone(&self.close_stdin);
        let ready = self.ready.clone();
        std::thread::spawn(move || {
            while let Ok(Some((kind, bytes))) = read_frame(&mut reader) {
                if kind != STDIN && kind != STDIN_EOF {
                    continue;
                }
                ready.wait();
                let mut guard = stdin.lock().unwrap_or_else(|e| e.into_inner());
                if kind == STDIN_EOF {
                    let closer = close.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(closer) = closer {
                        closer(written.load(std::sync::atomic::Ordering::SeqCst));
                    }
                    continue;
                }
                if let Some(to) = guard.as_mut() {
                    if to.write_all(&bytes).and_then(|()| to.flush()).is_err() {
                        // The guest's stdin is gone (the container ended): stop forwarding.
                        *guard = None;
                    } else {
                        written.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        });
    }

    /// Sends one frame to every client, dropping those that fail.
    fn broadcast(&self, kind: u8, payload: &[u8]) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let clients = &mut *clients;
        if let Some(held) = clients.held.as_mut() {
            if clients.held_bytes + payload.len() <= HELD_OUTPUT_LIMIT {
                clients.held_bytes += payload.len();
                held.push((kind, payload.to_vec()));
            }
        }
        clients
            .streams
            .retain_mut(|client| write_frame(client, kind, payload).is_ok());
    }

    /// Tells every client how the container ended and closes their connections.
    pub fn finish(&self, status: i32) {
        self.broadcast(EXIT, &status.to_be_bytes());
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        for client in clients.streams.drain(..) {
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

    /// Connects a client; returns its end of the connection.
    fn connect(attachments: &Attachments) -> UnixStream {
        let (client, served) = UnixStream::pair().unwrap();
        attachments.add(BufReader::new(served));
        client
    }

    fn frames(mut client: UnixStream) -> Vec<(u8, Vec<u8>)> {
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        while let Ok(Some(frame)) = read_frame(&mut client) {
            got.push(frame);
        }
        got
    }

    #[test]
    fn output_before_the_expected_client_is_held_for_it_in_order() {
        let attachments = Attachments::new(ReadyGate::open(), true);
        let mut out = attachments.tee(STDOUT, None);
        let mut err = attachments.tee(STDERR, None);
        out.write_all(b"first").unwrap();
        err.write_all(b"oops").unwrap();
        let client = connect(&attachments);
        out.write_all(b"later").unwrap();
        let late = connect(&attachments);
        attachments.finish(7);
        assert_eq!(
            frames(client),
            [
                (STDOUT, b"first".to_vec()),
                (STDERR, b"oops".to_vec()),
                (STDOUT, b"later".to_vec()),
                (EXIT, 7i32.to_be_bytes().to_vec()),
            ]
        );
        // Only the first client gets the held output; a later one sees from its arrival.
        assert_eq!(frames(late), [(EXIT, 7i32.to_be_bytes().to_vec())]);
    }

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<u8>>>);

    impl Write for Recorded {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_clients_stdin_eof_closes_stdin_after_the_bytes_it_was_given() {
        let attachments = Attachments::new(ReadyGate::open(), false);
        let stdin = Recorded::default();
        attachments.set_stdin(Box::new(stdin.clone()));
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        attachments.set_stdin_closer(move |bytes| closed_tx.send(bytes).unwrap());
        let mut client = connect(&attachments);
        write_frame(&mut client, STDIN, b"hello ").unwrap();
        write_frame(&mut client, STDIN, b"world").unwrap();
        write_frame(&mut client, STDIN_EOF, &[]).unwrap();
        let closed_after = closed_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(closed_after, 11);
        assert_eq!(&*stdin.0.lock().unwrap(), b"hello world");
        // A second EOF (another client) finds stdin already closed: nothing more happens.
        write_frame(&mut client, STDIN_EOF, &[]).unwrap();
        assert!(closed_rx.recv_timeout(Duration::from_millis(200)).is_err());
    }

    #[test]
    fn without_an_expected_client_nothing_is_held_and_holding_is_bounded() {
        let attachments = Attachments::new(ReadyGate::open(), false);
        attachments.tee(STDOUT, None).write_all(b"lost").unwrap();
        let client = connect(&attachments);
        attachments.finish(0);
        assert_eq!(frames(client), [(EXIT, 0i32.to_be_bytes().to_vec())]);

        let attachments = Attachments::new(ReadyGate::open(), true);
        let mut out = attachments.tee(STDOUT, None);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..(HELD_OUTPUT_LIMIT / chunk.len() + 10) {
            out.write_all(&chunk).unwrap();
        }
        let held = attachments.clients.lock().unwrap().held_bytes;
        assert!(held <= HELD_OUTPUT_LIMIT, "{held}");
    }
}
