//! `hull exec` sessions, served by the supervisor on its `control.sock` and multiplexed over
//! the guest's control console (hull-protocol documents the guest side).
//!
//! Protocol with the client: it sends the line `{"request":"exec","exec":{..ExecRequest..}}`;
//! from then on both directions carry [`super::wire`] frames:
//! - client -> supervisor: [`STDIN`] bytes (only with `stdin` in the request), [`STDIN_EOF`],
//!   [`RESIZE`] (rows, cols: big-endian u16 each), [`SIGNAL`] (big-endian i32). The client's
//!   own end of stream closes the process's stdin; the process keeps running, as Docker's.
//! - supervisor -> client: [`STARTED`] once the process exec'd, [`STDOUT`] / [`STDERR`] output
//!   (a failure to start is shown on stderr), then one [`EXIT`] frame (big-endian i32: the
//!   process's status, Docker's 125/126/127 when it could not start), and the connection
//!   closes.
//!
//! The supervisor picks each session's id, sends `exec_start` on hvc2 once the guest is ready,
//! and routes the guest's exec events back by id. Nothing grows without bound: the guest
//! sends bounded events, output waits in a per-session queue the guest keeps under
//! [`hull_protocol::EXEC_OUTPUT_WINDOW`] (see [`super::exec_output`]: a slow client slows
//! its process, and the one thread reading hvc2 never waits for a client), and stdin waits
//! for the guest's acks so at most [`EXEC_STDIN_WINDOW`] bytes per session are in flight.

use super::control::ControlChannel;
use super::exec_output::{ClientFrame, OutputQueue};
use super::wire::{
    read_frame, write_frame, DETACH, EXIT, RESIZE, SIGNAL, STDERR, STDIN, STDIN_EOF, STDOUT,
};
use hull_protocol::{
    ArchiveRequest, Base64, ControlMessage, ExecRequest, ExecStream, GuestEvent, EXEC_STDIN_WINDOW,
    MAX_CONTROL_LINE, MAX_EXEC_DATA,
};
use std::collections::HashMap;
use std::io::BufReader;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Docker's status for an exec'd process killed with its container (SIGKILL).
const KILLED: i32 = 137;

/// What a session runs in the guest.
enum SessionStart {
    /// A program (`hull exec`).
    Exec(ExecRequest),
    /// hull-init's built-in archive operation (`hull cp`).
    Archive(ArchiveRequest),
}

impl SessionStart {
    fn reads_stdin(&self) -> bool {
        match self {
            Self::Exec(request) => request.stdin,
            Self::Archive(request) => request.reads_stdin(),
        }
    }

    fn message(self, id: u32) -> ControlMessage {
        match self {
            Self::Exec(request) => ControlMessage::ExecStart { id, request },
            Self::Archive(request) => ControlMessage::ArchiveStart { id, request },
        }
    }
}

/// One session as the supervisor tracks it.
struct Session {
    /// The frames on their way to its client (which may have left: the process keeps
    /// running).
    output: OutputQueue,
    /// Stdin bytes sent to the guest and not yet acknowledged.
    unacked: u64,
}

#[derive(Default)]
struct Table {
    next_id: u32,
    sessions: HashMap<u32, Session>,
    /// The guest said it is ready (its control console is raw): exec_start may go out.
    guest_ready: bool,
    /// No more sessions, and why (the VM ended, or the engine has no control console).
    closed: Option<String>,
}

struct Shared {
    table: Mutex<Table>,
    /// Signalled on readiness, acks, session ends and close.
    changed: Condvar,
    channel: ControlChannel,
}

/// The exec sessions of one container.
#[derive(Clone)]
pub struct ExecSessions {
    shared: Arc<Shared>,
}

/// Hands guest events to the sessions; closes them all when dropped, which happens when the
/// thread reading the guest's control console ends (the VM is gone).
struct EventRouter {
    sessions: ExecSessions,
}

impl Drop for EventRouter {
    fn drop(&mut self) {
        self.sessions.close("the container stopped");
    }
}

/// Sends one frame to `client`; false if it is gone or stopped reading.
fn send(client: &UnixStream, kind: u8, payload: &[u8]) -> bool {
    let mut writer = client;
    write_frame(&mut writer, kind, payload).is_ok()
}

/// Sends a hull error (stderr line + status) to a client that has no session.
fn refuse(client: &UnixStream, code: i32, message: &str) {
    let _ = send(client, STDERR, format!("hull: {message}\n").as_bytes())
        && send(client, EXIT, &code.to_be_bytes());
    let _ = client.shutdown(Shutdown::Both);
}

impl ExecSessions {
    /// No sessions yet; exec messages go to the guest through `channel`.
    pub fn new(channel: ControlChannel) -> Self {
        Self {
            shared: Arc::new(Shared {
                table: Mutex::default(),
                changed: Condvar::new(),
                channel,
            }),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.shared.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event sink for [`super::ready::ReadyGate::watch`].
    pub fn router(&self) -> impl FnMut(GuestEvent) + Send + 'static {
        let router = EventRouter {
            sessions: self.clone(),
        };
        move |event| router.sessions.route(event)
    }

    /// Ends every session with status 137 (their processes went with the VM) and refuses
    /// new ones with `why`.
    pub fn close(&self, why: &str) {
        let sessions: Vec<Session> = {
            let mut table = self.table();
            table.closed.get_or_insert_with(|| why.to_string());
            table.sessions.drain().map(|(_, s)| s).collect()
        };
        self.shared.changed.notify_all();
        for session in sessions {
            session.output.push(ClientFrame::Exit(KILLED));
        }
    }

    /// Handles one guest event.
    pub fn route(&self, event: GuestEvent) {
        match event {
            GuestEvent::Ready => {
                self.table().guest_ready = true;
                self.shared.changed.notify_all();
            }
            GuestEvent::ExecStarted { id } => self.forward(id, ClientFrame::Started),
            GuestEvent::ExecOutput { id, stream, data } => {
                let kind = match stream {
                    ExecStream::Stdout => STDOUT,
                    ExecStream::Stderr => STDERR,
                };
                self.forward(id, ClientFrame::Output(kind, data.0));
            }
            GuestEvent::ExecStdinAck { id, bytes } => {
                if let Some(session) = self.table().sessions.get_mut(&id) {
                    session.unacked = session.unacked.saturating_sub(bytes);
                }
                self.shared.changed.notify_all();
            }
            // Usage reports and `top` answers are the supervisor's, not the sessions'; the
            // warm-start hand-over is the engine's, over before the supervisor reads events.
            GuestEvent::Stats { .. }
            | GuestEvent::TopProcess { .. }
            | GuestEvent::TopEnd { .. }
            | GuestEvent::Parked
            | GuestEvent::Resumed => {}
            GuestEvent::ExecExit { id, exit_code } => {
                let session = self.table().sessions.remove(&id);
                self.shared.changed.notify_all();
                if let Some(session) = session {
                    session.output.push(ClientFrame::Exit(exit_code));
                }
            }
        }
    }

    /// Queues a frame for session `id`'s client (without waiting for the client).
    fn forward(&self, id: u32, frame: ClientFrame) {
        if let Some(session) = self.table().sessions.get(&id) {
            session.output.push(frame);
        }
    }

    /// Serves a client whose request line was read from `reader`, on a thread of its own.
    pub fn add(&self, reader: BufReader<UnixStream>, request: ExecRequest) {
        self.add_session(reader, SessionStart::Exec(request));
    }

    /// Serves an archive session (`hull cp`): the same frames as exec's, the guest running
    /// its built-in `request` instead of a program.
    pub fn add_archive(&self, reader: BufReader<UnixStream>, request: ArchiveRequest) {
        self.add_session(reader, SessionStart::Archive(request));
    }

    fn add_session(&self, reader: BufReader<UnixStream>, start: SessionStart) {
        let sessions = self.clone();
        std::thread::spawn(move || sessions.serve(reader, start));
    }

    /// Waits for the guest to be ready, then registers a session; `Err` says why not.
    fn open(&self, client: Arc<UnixStream>) -> Result<u32, String> {
        let mut table = self.table();
        while !table.guest_ready && table.closed.is_none() {
            table = self
                .shared
                .changed
                .wait(table)
                .unwrap_or_else(|e| e.into_inner());
        }
        if let Some(why) = &table.closed {
            return Err(why.clone());
        }
        let mut id = table.next_id;
        while table.sessions.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        table.next_id = id.wrapping_add(1);
        let output = OutputQueue::start(id, client, self.shared.channel.clone());
        table.sessions.insert(id, Session { output, unacked: 0 });
        Ok(id)
    }

    /// Blocks until session `id` may send `len` more stdin bytes and counts them; false
    /// when the session is over.
    fn reserve_stdin(&self, id: u32, len: u64) -> bool {
        let mut table = self.table();
        loop {
            if table.closed.is_some() {
                return false;
            }
            let Some(session) = table.sessions.get_mut(&id) else {
                return false;
            };
            if session.unacked + len <= EXEC_STDIN_WINDOW {
                session.unacked += len;
                return true;
            }
            table = self
                .shared
                .changed
                .wait(table)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    fn is_running(&self, id: u32) -> bool {
        self.table().sessions.contains_key(&id)
    }

    fn serve(&self, mut reader: BufReader<UnixStream>, start: SessionStart) {
        let Ok(client) = reader.get_ref().try_clone() else {
            return;
        };
        let client = Arc::new(client);
        let id = match self.open(Arc::clone(&client)) {
            Ok(id) => id,
            Err(why) => {
                refuse(
                    &client,
                    crate::exit::HULL_ERROR,
                    &format!("cannot exec: {why}"),
                );
                return;
            }
        };
        let mut stdin_open = start.reads_stdin();
        let start = start.message(id);
        if start.to_line().len() > MAX_CONTROL_LINE {
            self.table().sessions.remove(&id);
            refuse(
                &client,
                crate::exit::HULL_ERROR,
                &format!("the request is larger than {MAX_CONTROL_LINE} bytes"),
            );
            return;
        }
        self.shared.channel.send(&start);
        // The client's frames; never with the table locked (sending can block on hvc2, which
        // the guest only drains while the event thread, which needs the table, keeps going).
        while let Ok(Some((kind, payload))) = read_frame(&mut reader) {
            let message = match (kind, payload.as_slice()) {
                (STDIN, bytes) if stdin_open => {
                    for chunk in bytes.chunks(MAX_EXEC_DATA) {
                        if !self.reserve_stdin(id, chunk.len() as u64) {
                            return;
                        }
                        self.shared.channel.send(&ControlMessage::ExecStdin {
                            id,
                            data: Base64(chunk.to_vec()),
                        });
                    }
                    continue;
                }
                (DETACH, _) => {
                    // Leaving on purpose is not the end of the process's input.
                    stdin_open = false;
                    continue;
                }
                (STDIN_EOF, _) if stdin_open => {
                    stdin_open = false;
                    ControlMessage::ExecStdinEof { id }
                }
                (RESIZE, &[r0, r1, c0, c1]) => ControlMessage::ExecResize {
                    id,
                    rows: u16::from_be_bytes([r0, r1]),
                    cols: u16::from_be_bytes([c0, c1]),
                },
                (SIGNAL, &[a, b, c, d]) => ControlMessage::ExecSignal {
                    id,
                    signal: i32::from_be_bytes([a, b, c, d]),
                },
                _ => continue,
            };
            self.shared.channel.send(&message);
        }
        // The client left (or the session ended and closed its connection).
        if stdin_open && self.is_running(id) {
            self.shared
                .channel
                .send(&ControlMessage::ExecStdinEof { id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Sessions whose control channel writes into a socket the test reads as the "guest".
    fn sessions() -> (ExecSessions, BufReader<UnixStream>) {
        let (host, guest) = UnixStream::pair().unwrap();
        let channel = ControlChannel::new(Some(Box::new(host)), 0);
        guest
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (ExecSessions::new(channel), BufReader::new(guest))
    }

    /// A client connected to a new session of `sessions` (the request line already read).
    fn client(sessions: &ExecSessions, request: ExecRequest) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sessions.add(BufReader::new(theirs), request);
        ours
    }

    fn next_message(guest: &mut BufReader<UnixStream>) -> ControlMessage {
        use std::io::BufRead;
        let mut line = String::new();
        guest.read_line(&mut line).unwrap();
        serde_json::from_str(line.trim()).unwrap()
    }

    fn frame(from: &mut UnixStream) -> (u8, Vec<u8>) {
        read_frame(from).unwrap().expect("a frame")
    }

    #[test]
    fn output_and_exit_reach_the_right_client() {
        let (sessions, mut guest) = sessions();
        let mut route = sessions.router();
        route(GuestEvent::Ready);
        let mut first = client(&sessions, ExecRequest::default());
        let ControlMessage::ExecStart { id: a, .. } = next_message(&mut guest) else {
            panic!("exec_start first")
        };
        let mut second = client(&sessions, ExecRequest::default());
        let ControlMessage::ExecStart { id: b, .. } = next_message(&mut guest) else {
            panic!("exec_start first")
        };
        assert_ne!(a, b, "concurrent sessions get their own ids");
        route(GuestEvent::ExecOutput {
            id: b,
            stream: ExecStream::Stderr,
            data: Base64(b"to b\n".to_vec()),
        });
        route(GuestEvent::ExecOutput {
            id: a,
            stream: ExecStream::Stdout,
            data: Base64(vec![0, 255]),
        });
        route(GuestEvent::ExecExit {
            id: a,
            exit_code: 7,
        });
        assert_eq!(frame(&mut first), (STDOUT, vec![0, 255]));
        assert_eq!(frame(&mut first), (EXIT, 7i32.to_be_bytes().to_vec()));
        assert!(
            read_frame(&mut first).unwrap().is_none(),
            "closed after exit"
        );
        assert_eq!(frame(&mut second), (STDERR, b"to b\n".to_vec()));
        // The VM ends: sessions still open end as killed.
        drop(route);
        assert_eq!(frame(&mut second), (EXIT, KILLED.to_be_bytes().to_vec()));
    }

    #[test]
    fn output_written_to_the_client_is_acknowledged_to_the_guest() {
        let (sessions, mut guest) = sessions();
        sessions.route(GuestEvent::Ready);
        let mut client = client(&sessions, ExecRequest::default());
        let ControlMessage::ExecStart { id, .. } = next_message(&mut guest) else {
            panic!("exec_start first")
        };
        for _ in 0..3 {
            sessions.route(GuestEvent::ExecOutput {
                id,
                stream: ExecStream::Stdout,
                data: Base64(vec![b'o'; MAX_EXEC_DATA]),
            });
        }
        for _ in 0..3 {
            assert_eq!(frame(&mut client), (STDOUT, vec![b'o'; MAX_EXEC_DATA]));
        }
        let mut acked = 0;
        while acked < 3 * MAX_EXEC_DATA as u64 {
            match next_message(&mut guest) {
                ControlMessage::ExecOutputAck {
                    id: acked_id,
                    bytes,
                } if acked_id == id => {
                    acked += bytes;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(acked, 3 * MAX_EXEC_DATA as u64, "every byte once");
        // A client that left is sent nothing more, but its output is still acknowledged
        // (the process runs on) and its exit ends the session.
        drop(client);
        sessions.route(GuestEvent::ExecOutput {
            id,
            stream: ExecStream::Stderr,
            data: Base64(b"unread".to_vec()),
        });
        assert_eq!(
            next_message(&mut guest),
            ControlMessage::ExecOutputAck { id, bytes: 6 }
        );
        sessions.route(GuestEvent::ExecExit { id, exit_code: 0 });
        assert!(sessions.table().sessions.is_empty());
    }

    #[test]
    fn hostile_event_lines_are_skipped_and_routing_goes_on() {
        let (sessions, mut guest) = sessions();
        let (mut hvc2, host_side) = UnixStream::pair().unwrap();
        let _gate = super::super::ready::ReadyGate::watch(Box::new(host_side), sessions.router());
        hvc2.write_all(b"{\"type\":\"ready\"}\n").unwrap();
        let mut client = client(&sessions, ExecRequest::default());
        let ControlMessage::ExecStart { id, .. } = next_message(&mut guest) else {
            panic!("exec_start first")
        };
        // Garbage, bad base64, and a line far over the host's limit (read in bounded
        // pieces, none of which is an event).
        hvc2.write_all(b"\xff\xfe not json\n").unwrap();
        hvc2.write_all(
            format!(
                "{{\"type\":\"exec_output\",\"id\":{id},\"stream\":\"stdout\",\"data\":\"!!\"}}\n"
            )
            .as_bytes(),
        )
        .unwrap();
        hvc2.write_all(&vec![b'x'; 10 * hull_protocol::MAX_EVENT_LINE])
            .unwrap();
        hvc2.write_all(b"\n").unwrap();
        let good = GuestEvent::ExecOutput {
            id,
            stream: ExecStream::Stdout,
            data: Base64(b"fine\n".to_vec()),
        };
        hvc2.write_all(good.to_line().as_bytes()).unwrap();
        hvc2.write_all(
            GuestEvent::ExecExit { id, exit_code: 0 }
                .to_line()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(frame(&mut client), (STDOUT, b"fine\n".to_vec()));
        assert_eq!(frame(&mut client), (EXIT, 0i32.to_be_bytes().to_vec()));
    }

    #[test]
    fn unknown_ids_and_early_events_are_ignored() {
        let (sessions, _guest) = sessions();
        sessions.route(GuestEvent::ExecExit {
            id: 42,
            exit_code: 1,
        });
        sessions.route(GuestEvent::ExecStdinAck {
            id: 42,
            bytes: u64::MAX,
        });
        sessions.route(GuestEvent::ExecOutput {
            id: 42,
            stream: ExecStream::Stdout,
            data: Base64(b"x".to_vec()),
        });
        assert!(sessions.table().sessions.is_empty());
    }

    #[test]
    fn stdin_waits_for_acks_beyond_the_window() {
        let (sessions, mut guest) = sessions();
        sessions.route(GuestEvent::Ready);
        let request = ExecRequest {
            stdin: true,
            ..ExecRequest::default()
        };
        let mut client = client(&sessions, request);
        let ControlMessage::ExecStart { id, .. } = next_message(&mut guest) else {
            panic!("exec_start first")
        };
        let window = usize::try_from(EXEC_STDIN_WINDOW).unwrap();
        let total = window + MAX_EXEC_DATA;
        write_frame(&mut client, STDIN, &vec![b'x'; total]).unwrap();
        let mut sent = 0;
        while sent < window {
            match next_message(&mut guest) {
                ControlMessage::ExecStdin { data, .. } => sent += data.0.len(),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(sent, window, "no more than the window before an ack");
        // Nothing more comes until the guest acknowledges.
        guest
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut probe = [0u8; 1];
        assert!(guest.get_mut().read(&mut probe).is_err(), "held back");
        guest
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        sessions.route(GuestEvent::ExecStdinAck {
            id,
            bytes: MAX_EXEC_DATA as u64,
        });
        assert!(matches!(
            next_message(&mut guest),
            ControlMessage::ExecStdin { data, .. } if data.0.len() == MAX_EXEC_DATA
        ));
        write_frame(&mut client, STDIN_EOF, &[]).unwrap();
        assert_eq!(
            next_message(&mut guest),
            ControlMessage::ExecStdinEof { id }
        );
        write_frame(&mut client, RESIZE, &[0, 30, 0, 100]).unwrap();
        assert_eq!(
            next_message(&mut guest),
            ControlMessage::ExecResize {
                id,
                rows: 30,
                cols: 100
            }
        );
        client.flush().unwrap();
    }

    #[test]
    fn archive_sessions_start_with_archive_start_and_carry_stdin() {
        let (sessions, mut guest) = sessions();
        sessions.route(GuestEvent::Ready);
        let (mut client, theirs) = UnixStream::pair().unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = ArchiveRequest::Import {
            path: "/tmp".into(),
            keep_owner: false,
        };
        sessions.add_archive(BufReader::new(theirs), request.clone());
        let ControlMessage::ArchiveStart { id, request: sent } = next_message(&mut guest) else {
            panic!("archive_start first")
        };
        assert_eq!(sent, request);
        write_frame(&mut client, STDIN, b"tar bytes").unwrap();
        assert_eq!(
            next_message(&mut guest),
            ControlMessage::ExecStdin {
                id,
                data: Base64(b"tar bytes".to_vec())
            }
        );
        sessions.route(GuestEvent::ExecExit { id, exit_code: 0 });
        assert_eq!(frame(&mut client), (EXIT, 0i32.to_be_bytes().to_vec()));
    }

    #[test]
    fn a_closed_container_refuses_new_sessions_with_125() {
        let (sessions, _guest) = sessions();
        sessions.close("the engine has no control console");
        let mut client = client(&sessions, ExecRequest::default());
        let (kind, message) = frame(&mut client);
        assert_eq!(kind, STDERR);
        assert!(String::from_utf8_lossy(&message).contains("no control console"));
        assert_eq!(frame(&mut client), (EXIT, 125i32.to_be_bytes().to_vec()));
    }
}
