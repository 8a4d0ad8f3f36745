//! The client side of the supervisor's sessions (`attach`, `exec`): one type for both. A
//! [`Session`] yields what the supervisor sends; its [`SessionInput`] (cloneable, for the
//! stdin and signal threads) sends stdin, signals and terminal sizes.

use super::Containers;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::exit::HULL_ERROR;
use crate::supervisor::control;
use crate::supervisor::wire::{
    read_frame, write_frame, Request, DETACH, EXIT, RESIZE, SIGNAL, STARTED, STDERR, STDIN,
    STDIN_EOF, STDOUT,
};
use anyhow::Context;
use hull_protocol::{ControlMessage, ExecRequest};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long to wait for a just-started supervisor to listen on its socket.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

/// What a session's supervisor sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The exec'd process runs (exec only; `exec -d` waits for it).
    Started,
    /// Output on the process's stdout (or terminal).
    Stdout(Vec<u8>),
    /// Output on its stderr (an exec that could not start says why here).
    Stderr(Vec<u8>),
    /// The status it ended with; the session is over.
    Exit(i32),
}

/// One attach or exec session with a container's supervisor.
pub struct Session {
    reader: UnixStream,
    input: SessionInput,
    container: Container,
}

/// Sends to a session; clones share the connection.
#[derive(Clone)]
pub struct SessionInput {
    writer: Arc<Mutex<UnixStream>>,
    kind: SessionKind,
    detached: Arc<AtomicBool>,
}

#[derive(Clone)]
enum SessionKind {
    /// Signals and sizes go to the container's process, each on its own control request.
    Attach { socket: PathBuf },
    /// Everything goes as frames on the session.
    Exec,
}

impl Session {
    /// The next thing the supervisor sent; None when the session ended without a status
    /// (the supervisor failed or was killed).
    pub fn next_event(&mut self) -> Option<SessionEvent> {
        loop {
            let (kind, payload) = read_frame(&mut self.reader).ok()??;
            return Some(match kind {
                STARTED => SessionEvent::Started,
                STDOUT => SessionEvent::Stdout(payload),
                STDERR => SessionEvent::Stderr(payload),
                EXIT => SessionEvent::Exit(
                    payload
                        .as_slice()
                        .try_into()
                        .map_or(HULL_ERROR, i32::from_be_bytes),
                ),
                _ => continue,
            });
        }
    }

    /// Where to send stdin, signals and sizes.
    pub fn input(&self) -> SessionInput {
        self.input.clone()
    }

    /// The container the session is with (as it was when the session opened).
    pub fn container(&self) -> &Container {
        &self.container
    }
}

impl SessionInput {
    fn frame(&self, kind: u8, payload: &[u8]) -> bool {
        let mut session = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        write_frame(&mut *session, kind, payload).is_ok()
    }

    /// Bytes for the process's stdin; false once the session is gone.
    pub fn stdin(&self, bytes: &[u8]) -> bool {
        self.frame(STDIN, bytes)
    }

    /// Ends the exec'd process's stdin. An attach client's end leaves the container's stdin
    /// open, as Docker's does for `run -d -i`: nothing is sent.
    pub fn stdin_eof(&self) -> bool {
        match self.kind {
            SessionKind::Exec => self.frame(STDIN_EOF, &[]),
            SessionKind::Attach { .. } => true,
        }
    }

    /// Ends the process's stdin whatever the session: for an attach, Docker's `StdinOnce`
    /// (`docker run -i` closes the container's stdin when its own ends). A TTY's stdin
    /// stays open.
    pub fn close_stdin(&self) -> bool {
        self.frame(STDIN_EOF, &[])
    }

    /// True once the client detached ([`Self::detach`]): the session ended with the process
    /// still running, not with a lost connection.
    pub fn is_detached(&self) -> bool {
        self.detached.load(Ordering::SeqCst)
    }

    /// Leaves the process running (Docker's detach keys): an exec'd process keeps its stdin
    /// open; the session then ends, `Session::next_event` returning None.
    pub fn detach(&self) {
        self.detached.store(true, Ordering::SeqCst);
        if matches!(self.kind, SessionKind::Exec) {
            self.frame(DETACH, &[]);
        }
        let session = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = session.shutdown(std::net::Shutdown::Both);
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) -> bool {
        match &self.kind {
            SessionKind::Exec => self.frame(SIGNAL, &signal.to_be_bytes()),
            SessionKind::Attach { socket } => {
                control_message(socket, ControlMessage::Signal { signal })
            }
        }
    }

    /// The client's terminal is now `rows` x `cols`.
    pub fn resize(&self, rows: u16, cols: u16) -> bool {
        match &self.kind {
            SessionKind::Exec => {
                let mut size = rows.to_be_bytes().to_vec();
                size.extend_from_slice(&cols.to_be_bytes());
                self.frame(RESIZE, &size)
            }
            SessionKind::Attach { socket } => {
                control_message(socket, ControlMessage::Resize { rows, cols })
            }
        }
    }
}

fn control_message(socket: &std::path::Path, message: ControlMessage) -> bool {
    match control::request(socket, &Request::Control { message }) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!("control message not delivered: {err:#}");
            false
        }
    }
}

impl Containers {
    /// Attaches to the running container `reference` names: its output from now on, its
    /// status at the end, and its stdin when it was created with `-i`.
    pub fn attach(&self, reference: &str) -> Result<Session> {
        let container = self.find_running(reference, |_| Error::AttachStopped)?;
        if container.is_paused() {
            return Err(Error::AttachPaused);
        }
        let socket = self.store.paths(&container.id).control_socket();
        let stream = self.connect(&container, &Request::Attach, |id| {
            self.find_running(id, |_| Error::AttachStopped)
                .map(|_| true)
        })?;
        Ok(Session {
            input: SessionInput {
                writer: Arc::new(Mutex::new(stream.try_clone()?)),
                kind: SessionKind::Attach { socket },
                detached: Arc::default(),
            },
            reader: stream,
            container,
        })
    }

    /// The terminal of the running container `reference` names is now `rows` x `cols`
    /// (an API client's resize, outside any session).
    pub fn resize(&self, reference: &str, rows: u16, cols: u16) -> Result<()> {
        let container = self.find_running(reference, |c| Error::NotRunning(c.id.clone()))?;
        let socket = self.store.paths(&container.id).control_socket();
        let message = ControlMessage::Resize { rows, cols };
        Ok(control::request(&socket, &Request::Control { message })?)
    }

    /// Runs `request` in the running container `reference` names.
    pub fn exec(&self, reference: &str, request: &ExecRequest) -> Result<Session> {
        let container = self.find_running(reference, |c| Error::ExecNotRunning(c.name.clone()))?;
        if container.is_paused() {
            return Err(Error::Paused(container.id, "exec"));
        }
        let exec = Request::Exec {
            exec: request.clone(),
        };
        let stream = self.connect(&container, &exec, |id| {
            Ok(self.find(id).is_ok_and(|c| c.is_running()))
        })?;
        Ok(Session {
            input: SessionInput {
                writer: Arc::new(Mutex::new(stream.try_clone()?)),
                kind: SessionKind::Exec,
                detached: Arc::default(),
            },
            reader: stream,
            container,
        })
    }

    /// Opens an archive session (`hull cp`) in the running `container`: exec's frames, the
    /// guest running its built-in `request`.
    /// `socket` is the supervisor's, or a helper VM's for a stopped container.
    pub(super) fn archive_session(
        &self,
        container: &Container,
        socket: &std::path::Path,
        request: hull_protocol::ArchiveRequest,
    ) -> Result<Session> {
        let archive = Request::Archive { archive: request };
        let stream = self.connect_at(socket, container, &archive, |id| {
            Ok(self.find(id).is_ok_and(|c| c.is_running()))
        })?;
        Ok(Session {
            input: SessionInput {
                writer: Arc::new(Mutex::new(stream.try_clone()?)),
                kind: SessionKind::Exec,
                detached: Arc::default(),
            },
            reader: stream,
            container: container.clone(),
        })
    }

    /// The status of the attached container once its session ended without one: the store
    /// knows how it ended.
    pub fn status_after_attach(&self, id: &str) -> Result<i32> {
        match self.find(id) {
            Ok(done) if !done.is_running() => Ok(done.state.exit_code),
            Ok(_) => Err(anyhow::anyhow!(
                "lost the connection to the container's supervisor; `hull ps -a` shows its state"
            )
            .into()),
            Err(_) => Err(anyhow::anyhow!(
                "the container was removed before its status could be read"
            )
            .into()),
        }
    }

    /// Why an exec session in container `id` ended without the process's status.
    pub fn exec_lost(&self, id: &str) -> Error {
        match self.find(id) {
            Ok(now) if !now.is_running() => anyhow::anyhow!(
                "the container stopped while the command ran (hull ps -a shows how it ended)"
            ),
            _ => anyhow::anyhow!("lost the connection to the container's supervisor"),
        }
        .into()
    }

    /// Opens a session on the container's supervisor with `request`. The supervisor marks
    /// the container running just before it listens: retry briefly while `still_running`
    /// (its error ends the wait at once; false ends it as a failure to connect).
    fn connect(
        &self,
        container: &Container,
        request: &Request,
        still_running: impl Fn(&str) -> Result<bool>,
    ) -> Result<UnixStream> {
        let socket = self.store.paths(&container.id).control_socket();
        self.connect_at(&socket, container, request, still_running)
    }

    /// [`Self::connect`] to the supervisor listening on `socket`.
    fn connect_at(
        &self,
        socket: &std::path::Path,
        container: &Container,
        request: &Request,
        still_running: impl Fn(&str) -> Result<bool>,
    ) -> Result<UnixStream> {
        let mut line = serde_json::to_string(request).context("cannot encode the request")?;
        line.push('\n');
        let start = Instant::now();
        loop {
            match UnixStream::connect(socket) {
                Ok(mut session) => {
                    session.write_all(line.as_bytes())?;
                    return Ok(session);
                }
                Err(err) => {
                    if start.elapsed() > CONNECT_PATIENCE || !still_running(&container.id)? {
                        return Err(err)
                            .with_context(|| {
                                format!(
                                    "cannot reach the container's supervisor at {}",
                                    socket.display()
                                )
                            })
                            .map_err(Error::from);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}
