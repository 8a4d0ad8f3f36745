//! `hull exec` sessions in the guest: PID 1 starts extra processes in the running container
//! and relays their stdio as exec messages on the control console (hull-protocol documents
//! them). This module is the session table and its relay; [`spawn`] forks a session's
//! process, [`state`] is one session's buffers and flow-control windows, [`plan`] validates
//! a request.
//!
//! How an exec'd process enters the container: PID 1 forks it. PID 1 unshared the pid
//! namespace to start the container, so its children are born in the container's pid
//! namespace (joined explicitly with setns before each fork, so this does not rest on that
//! history) while PID 1 stays their parent: it reaps them and reports their status, and the
//! kernel kills them with the container's process, as Docker's are. The child joins the
//! container's cgroup, then its other namespaces (setns on `/proc/<container>/ns/*`), takes
//! its root (`/proc/<container>/root`, as `nsenter --root` does), its rlimits and identity,
//! and execs. With a terminal, PID 1 allocates the pty in the container's own devpts (the
//! process sees `/dev/pts/N`) and keeps the master.
//!
//! PID 1 never blocks on an exec: pipes are non-blocking and polled by the relay loop,
//! setup errors come back on a polled pipe, and stdin is buffered per session only up to
//! [`EXEC_STDIN_WINDOW`] (the host waits for [`GuestEvent::ExecStdinAck`] before sending more).
//! Output is read only while less than [`EXEC_OUTPUT_WINDOW`] of it waits for the host's
//! [`ControlMessage::ExecOutputAck`]: a slow reader on the host slows the process (its pipe
//! fills) instead of the host buffering without bound or dropping the reader.

mod plan;
mod spawn;
mod state;

pub use plan::ExecPlan;

use crate::cgroup::CgroupManager;
use crate::console::set_window_size;
use crate::error::{SetupError, EXIT_SETUP_FAILED};
use crate::process::{docker_status, read_some};
use crate::spec::ContainerPlan;
use hull_protocol::{
    Base64, ControlMessage, ExecStream, GuestEvent, EXEC_STDIN_WINDOW, MAX_EXEC_DATA,
};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use state::Session;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Sessions running at once; more are refused (each holds a few fds and a stdin buffer).
pub const MAX_SESSIONS: usize = 32;

/// How long an exited process's output is still relayed while its pipes stay open (a
/// background child may hold them forever): the same rule as the container's own output.
const DRAIN_IDLE: Duration = Duration::from_millis(500);

/// When the container's process has ended, how long its exec sessions get to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Longest setup error report read from a child.
const MAX_ERROR_REPORT: usize = 4096;

/// What every exec shares: the container it enters and where its events go.
pub struct ExecContext<'a> {
    /// The container's process (PID 1's view): whose namespaces and root an exec joins.
    pub container: Pid,
    /// The container's validated spec: its namespaces and process defaults.
    pub plan: &'a ContainerPlan,
    /// The container's cgroup, if it has one of its own.
    pub cgroup: Option<&'a dyn CgroupManager>,
    /// The control console (hvc2) the events are written to; `None`: no exec is possible.
    pub events: Option<&'a File>,
}

/// One of a session's fds the relay loop polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecPipe {
    /// The process's stdout (or its terminal).
    Stdout,
    /// Its stderr.
    Stderr,
    /// Its stdin, polled for room while bytes are pending.
    Stdin,
    /// The setup error report of the child.
    SetupErrors,
}

/// A polled fd: which session, which pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecFd {
    /// Session id.
    pub id: u32,
    /// Pipe.
    pub pipe: ExecPipe,
}

/// The running exec sessions of the container.
pub struct Execs<'a> {
    ctx: ExecContext<'a>,
    sessions: Vec<Session>,
}

impl<'a> Execs<'a> {
    /// No sessions yet.
    pub fn new(ctx: ExecContext<'a>) -> Self {
        Self {
            ctx,
            sessions: Vec::new(),
        }
    }

    /// Sessions running (tests).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session runs.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn emit(&self, event: &GuestEvent) {
        if let Some(mut events) = self.ctx.events {
            // Like the container's output: a host that stopped reading loses events rather
            // than wedging PID 1 with an error it cannot act on.
            let _ = events.write_all(event.to_line().as_bytes());
        }
    }

    fn emit_output(&self, id: u32, stream: ExecStream, bytes: &[u8]) {
        for chunk in bytes.chunks(MAX_EXEC_DATA) {
            self.emit(&GuestEvent::ExecOutput {
                id,
                stream,
                data: Base64(chunk.to_vec()),
            });
        }
    }

    /// Tells the host session `id` could not start, and why (on its stderr, as the
    /// container's own setup errors are shown).
    fn refuse(&self, id: u32, error: &SetupError) {
        log!("exec {id}: {error}");
        self.emit_output(
            id,
            ExecStream::Stderr,
            format!("hull: {error}\n").as_bytes(),
        );
        self.emit(&GuestEvent::ExecExit {
            id,
            exit_code: error.exit_code(),
        });
    }

    /// The fds to poll: output, setup reports, and stdin while bytes wait for room.
    pub fn poll_fds(&self) -> Vec<(ExecFd, BorrowedFd<'_>, PollFlags)> {
        let mut fds = Vec::new();
        for s in &self.sessions {
            let readable = !s.output_blocked();
            let entries = [
                (
                    ExecPipe::Stdout,
                    s.stdout.as_ref().filter(|_| readable),
                    PollFlags::POLLIN,
                ),
                (
                    ExecPipe::Stderr,
                    s.stderr.as_ref().filter(|_| readable),
                    PollFlags::POLLIN,
                ),
                (
                    ExecPipe::SetupErrors,
                    s.setup_errors.as_ref(),
                    PollFlags::POLLIN,
                ),
                (
                    ExecPipe::Stdin,
                    s.stdin.as_ref().filter(|_| !s.pending_stdin.is_empty()),
                    PollFlags::POLLOUT,
                ),
            ];
            for (pipe, file, flags) in entries {
                if let Some(file) = file {
                    fds.push((ExecFd { id: s.id, pipe }, file.as_fd(), flags));
                }
            }
        }
        fds
    }

    /// How long the relay may sleep: until the next exited session's drain runs out.
    pub fn poll_timeout(&self) -> PollTimeout {
        let now = Instant::now();
        self.sessions
            .iter()
            .filter(|s| s.status.is_some() && (s.stdout.is_some() || s.stderr.is_some()))
            .filter(|s| !s.output_blocked())
            .map(|s| DRAIN_IDLE.saturating_sub(now.duration_since(s.last_activity)))
            .min()
            .map_or(PollTimeout::NONE, |left| {
                // Rounded up, so the timer has run out when poll returns.
                let ms = u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX);
                PollTimeout::from(ms)
            })
    }

    /// Handles a ready fd.
    pub fn on_ready(&mut self, fd: ExecFd, buf: &mut [u8]) {
        let Some(index) = self.sessions.iter().position(|s| s.id == fd.id) else {
            return;
        };
        match fd.pipe {
            ExecPipe::Stdout | ExecPipe::Stderr => {
                let stream = if fd.pipe == ExecPipe::Stdout {
                    ExecStream::Stdout
                } else {
                    ExecStream::Stderr
                };
                let limit = buf.len().min(MAX_EXEC_DATA);
                let session = &mut self.sessions[index];
                if session.output_blocked() {
                    return;
                }
                let Some(pipe) = session.output(fd.pipe) else {
                    return;
                };
                let Some(file) = pipe.as_ref() else { return };
                match read_some(file.as_fd(), &mut buf[..limit]) {
                    Err(Errno::EAGAIN) => {}
                    // EIO: a pty whose slave side is closed everywhere.
                    Ok(0) | Err(_) => *pipe = None,
                    Ok(n) => {
                        self.emit_output(fd.id, stream, &buf[..n]);
                        // After the hand-over: writing to a slow hvc2 can take longer than
                        // DRAIN_IDLE, and that is not the process being quiet.
                        let session = &mut self.sessions[index];
                        session.last_activity = Instant::now();
                        session.unacked_output += n as u64;
                    }
                }
            }
            ExecPipe::SetupErrors => self.read_setup_errors(index, buf),
            ExecPipe::Stdin => self.flush_stdin(index),
        }
    }

    /// Reads the child's setup report; at its end, the exec either happened (the pipe was
    /// closed on exec, empty) or failed (status byte + message).
    fn read_setup_errors(&mut self, index: usize, buf: &mut [u8]) {
        let session = &mut self.sessions[index];
        let Some(file) = session.setup_errors.as_ref() else {
            return;
        };
        match read_some(file.as_fd(), buf) {
            Err(Errno::EAGAIN) => return,
            Ok(n) if n > 0 => {
                let room = MAX_ERROR_REPORT.saturating_sub(session.error_report.len());
                session.error_report.extend_from_slice(&buf[..n.min(room)]);
                return;
            }
            Ok(_) | Err(_) => session.setup_errors = None,
        }
        let id = session.id;
        match session.error_report.split_first() {
            None => self.emit(&GuestEvent::ExecStarted { id }),
            Some((_, message)) => {
                let text = String::from_utf8_lossy(message).into_owned();
                log!("exec {id}: {text}");
                // The child exits with the report's status; the exit event carries it.
                self.emit_output(id, ExecStream::Stderr, format!("hull: {text}\n").as_bytes());
            }
        }
    }

    /// Writes pending stdin of session `index` as far as the pipe takes it, acknowledges
    /// what it took, and closes stdin once EOF was asked for and everything is written.
    fn flush_stdin(&mut self, index: usize) {
        let session = &mut self.sessions[index];
        let mut written = 0usize;
        let mut broken = false;
        if let Some(stdin) = session.stdin.as_ref() {
            while written < session.pending_stdin.len() {
                match nix::unistd::write(stdin, &session.pending_stdin[written..]) {
                    Ok(n) => written += n,
                    Err(Errno::EINTR) => {}
                    Err(Errno::EAGAIN) => break,
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
        }
        if broken || session.stdin.is_none() {
            // EPIPE (the process closed its stdin) or no stdin: what it will never read
            // counts as taken, so the host's window does not stall.
            written = session.pending_stdin.len();
            session.stdin = None;
        }
        session.pending_stdin.drain(..written);
        if session.close_stdin_when_flushed && session.pending_stdin.is_empty() {
            session.stdin = None;
        }
        if written > 0 {
            let id = session.id;
            self.emit(&GuestEvent::ExecStdinAck {
                id,
                bytes: written as u64,
            });
        }
    }

    /// Handles an exec control message; other messages are ignored.
    pub fn on_control(&mut self, message: ControlMessage) {
        match message {
            ControlMessage::ExecStart { id, request } => self.start(id, &request),
            ControlMessage::ArchiveStart { id, request } => self.start_archive(id, &request),
            ControlMessage::ExecStdin { id, data } => {
                let Some(index) = self.sessions.iter().position(|s| s.id == id) else {
                    return;
                };
                let session = &mut self.sessions[index];
                if session.close_stdin_when_flushed {
                    return;
                }
                let room = usize::try_from(EXEC_STDIN_WINDOW)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(session.pending_stdin.len());
                if data.0.len() > room {
                    log!(
                        "exec {id}: the host overran its stdin window; dropped {} bytes",
                        data.0.len() - room
                    );
                }
                session
                    .pending_stdin
                    .extend_from_slice(&data.0[..data.0.len().min(room)]);
                self.flush_stdin(index);
            }
            ControlMessage::ExecStdinEof { id } => {
                if let Some(index) = self.sessions.iter().position(|s| s.id == id) {
                    let session = &mut self.sessions[index];
                    // A terminal has no end of input to give (the host's ^D is a byte).
                    if session.tty.is_none() {
                        session.close_stdin_when_flushed = true;
                        self.flush_stdin(index);
                    }
                }
            }
            ControlMessage::ExecResize { id, rows, cols } => {
                let tty = self.session(id).and_then(|s| s.tty.as_ref());
                if let (Some(tty), true) = (tty, rows > 0 && cols > 0) {
                    set_window_size(tty, rows, cols);
                }
            }
            ControlMessage::ExecSignal { id, signal } => {
                let Some(session) = self.session(id).filter(|s| s.status.is_none()) else {
                    return;
                };
                match Signal::try_from(signal) {
                    Ok(sig) => {
                        if let Err(e) = kill(session.pid, sig) {
                            log!("exec {id}: signal {signal} failed: {e}");
                        }
                    }
                    Err(_) => log!("exec {id}: ignoring unknown signal number {signal}"),
                }
            }
            ControlMessage::ExecOutputAck { id, bytes } => {
                if let Some(session) = self.sessions.iter_mut().find(|s| s.id == id) {
                    session.unacked_output = session.unacked_output.saturating_sub(bytes);
                    // The host taking output is activity: the drain clock starts again.
                    session.last_activity = Instant::now();
                }
            }
            ControlMessage::Signal { .. }
            | ControlMessage::Resize { .. }
            | ControlMessage::StdinEof { .. }
            | ControlMessage::Top { .. }
            | ControlMessage::Resume { .. } => {}
        }
    }

    fn session(&self, id: u32) -> Option<&Session> {
        self.sessions.iter().find(|s| s.id == id)
    }

    /// Records the status of a reaped child if it is an exec'd process; false otherwise.
    pub fn reaped(&mut self, status: WaitStatus) -> bool {
        let Some(pid) = status.pid() else {
            return false;
        };
        let Some(session) = self.sessions.iter_mut().find(|s| s.pid == pid) else {
            return false;
        };
        if let Some(code) = docker_status(status) {
            session.status = Some(code);
            session.last_activity = Instant::now();
        }
        true
    }

    /// Ends every session whose process is reaped and whose output is drained.
    pub fn finish_ended(&mut self, buf: &mut [u8]) {
        // "Idle" must mean the pipes have nothing to give, not that PID 1 was busy elsewhere
        // for DRAIN_IDLE: one more non-blocking read of each open output first (it refreshes
        // `last_activity` if there was data).
        let now = Instant::now();
        let idle: Vec<ExecFd> = self
            .sessions
            .iter()
            .filter(|s| s.status.is_some() && s.is_over(now))
            .flat_map(|s| {
                [
                    (ExecPipe::Stdout, s.stdout.is_some()),
                    (ExecPipe::Stderr, s.stderr.is_some()),
                ]
                .into_iter()
                .filter(|(_, open)| *open)
                .map(|(pipe, _)| ExecFd { id: s.id, pipe })
            })
            .collect();
        for fd in idle {
            self.on_ready(fd, buf);
        }
        let now = Instant::now();
        let (over, running): (Vec<Session>, Vec<Session>) = std::mem::take(&mut self.sessions)
            .into_iter()
            .partition(|s| s.is_over(now));
        self.sessions = running;
        for session in over {
            self.emit(&GuestEvent::ExecExit {
                id: session.id,
                exit_code: session.status.unwrap_or(EXIT_SETUP_FAILED),
            });
        }
    }

    /// After the container's process ended (the VM powers off next): kills what is left of
    /// the sessions, relays their last output and statuses for up to [`SHUTDOWN_GRACE`],
    /// then reports any session still there as killed (137).
    pub fn shutdown(&mut self, sigchld: &SignalFd, buf: &mut [u8]) {
        for session in self.sessions.iter().filter(|s| s.status.is_none()) {
            let _ = kill(session.pid, Signal::SIGKILL);
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while !self.sessions.is_empty() && Instant::now() < deadline {
            self.reap_all();
            self.finish_ended(buf);
            let ready: Vec<ExecFd> = {
                let polled = self.poll_fds();
                let mut fds: Vec<PollFd<'_>> = polled
                    .iter()
                    .map(|(_, fd, flags)| PollFd::new(*fd, *flags))
                    .collect();
                fds.push(PollFd::new(sigchld.as_fd(), PollFlags::POLLIN));
                let timeout = PollTimeout::from(50u16);
                if !matches!(nix::poll::poll(&mut fds, timeout), Ok(n) if n > 0) {
                    continue;
                }
                polled
                    .iter()
                    .zip(fds.iter())
                    .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
                    .map(|((exec_fd, _, _), _)| *exec_fd)
                    .collect()
            };
            while let Ok(Some(_)) = sigchld.read_signal() {}
            for fd in ready {
                self.on_ready(fd, buf);
            }
        }
        for session in std::mem::take(&mut self.sessions) {
            self.emit(&GuestEvent::ExecExit {
                id: session.id,
                exit_code: session.status.unwrap_or(128 + Signal::SIGKILL as i32),
            });
        }
    }

    fn reap_all(&mut self) {
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
            self.reaped(status);
        }
    }
}
