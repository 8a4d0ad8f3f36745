//! PID 1's loop while the container runs: stdio relay (no-tty mode), control messages,
//! `hull exec` sessions ([`Execs`]), zombie reaping, and waiting for the container process.

use crate::console::set_window_size;
use crate::control::ControlDecoder;
use crate::memory_guard::MemoryGuard;
use crate::session::{ExecFd, Execs};
use crate::stats::StatsReporter;
use hull_protocol::ControlMessage;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

/// How long to keep draining the container's stdout/stderr after it exited: a background
/// process (no pid namespace) may hold the pipes open forever.
const DRAIN_IDLE_MS: u16 = 500;

/// On stdin_eof, how long to wait for hvc0 bytes the host says it sent before giving up on
/// them (they are in flight on a live channel: this only bounds a broken host).
const STDIN_EOF_STALL_MS: u16 = 5000;

/// Read size for every stream.
const CHUNK: usize = 64 * 1024;

/// The container's side of the pipes, as PID 1 holds them (no-tty mode).
#[derive(Debug)]
pub struct Pipes {
    /// Write end of the container's stdin (non-blocking).
    pub stdin: Option<OwnedFd>,
    /// Read end of its stdout.
    pub stdout: Option<OwnedFd>,
    /// Read end of its stderr.
    pub stderr: Option<OwnedFd>,
}

/// The streams PID 1 relays between.
pub struct Relay<'a> {
    /// The container process.
    pub child: Pid,
    /// SIGCHLD arrives here.
    pub sigchld: SignalFd,
    /// Pipes to the container (in terminal mode its pty master as stdin and stdout).
    pub pipes: Pipes,
    /// hvc0 (read side).
    pub input: Option<&'a File>,
    /// hvc0 (write side).
    pub output: &'a File,
    /// hvc1, or hvc0.
    pub errors: &'a File,
    /// hvc2.
    pub control: Option<&'a File>,
    /// The container's pty master in terminal mode, for resize messages.
    pub tty: Option<&'a File>,
    /// The container's cgroup directory (its processes, for `hull top`).
    pub cgroup_dir: Option<&'a std::path::Path>,
    /// `hull exec` sessions in the container.
    pub execs: Execs<'a>,
    /// Watches the container's memory cgroup for thrashing at its limit.
    pub memory_guard: Option<&'a mut MemoryGuard>,
    /// Reports the container's cgroup usage to the host (`hull stats`).
    pub stats: Option<StatsReporter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Sigchld,
    Input,
    Stdin,
    Stdout,
    Stderr,
    Control,
    Exec(ExecFd),
    MemoryEvents,
}

fn read_chunk(fd: impl std::os::fd::AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    crate::process::read_some(fd.as_fd(), buf)
}

impl Relay<'_> {
    /// Runs until the container process exits and its output is drained; returns its
    /// status.
    pub fn run(mut self) -> WaitStatus {
        let mut pending_stdin: Vec<u8> = Vec::new();
        let mut close_stdin_when_flushed = false;
        let mut decoder = ControlDecoder::default();
        let mut buf = vec![0u8; CHUNK];
        let mut status = None;
        // Bytes read from hvc0 so far, matched against stdin_eof's count.
        let mut input_bytes: u64 = 0;
        if self.input.is_none() {
            // No stdin source at all: the container sees EOF at once.
            self.pipes.stdin = None;
        }
        while status.is_none() {
            // Exec sessions that ended may still be draining: wake up when that runs out.
            let timeout = self.poll_timeout();
            let ready = self.wait_ready(pending_stdin.is_empty(), timeout, false);
            if ready.is_empty() {
                // A timeout: the memory guard's window may have run out.
                self.check_memory();
            }
            self.report_stats();
            for (source, flags) in ready {
                match source {
                    Source::Sigchld => {
                        while let Ok(Some(_)) = self.sigchld.read_signal() {}
                        if let Some(s) = self.reap() {
                            crate::timeline::mark("reaped");
                            status = Some(s);
                        }
                    }
                    Source::Input => {
                        let input = self.input.expect("polled only when present");
                        match read_chunk(input, &mut buf) {
                            Ok(0) | Err(_) => {
                                // The host closed hvc0 (or it hung up): end of stdin.
                                self.input = None;
                                close_stdin_when_flushed = true;
                            }
                            Ok(n) => {
                                input_bytes += n as u64;
                                pending_stdin.extend_from_slice(&buf[..n]);
                            }
                        }
                    }
                    Source::Stdin => {}
                    Source::Stdout | Source::Stderr => self.copy_output(source, &mut buf),
                    Source::Exec(fd) => self.execs.on_ready(fd, &mut buf),
                    Source::MemoryEvents => self.check_memory(),
                    Source::Control => {
                        let control = self.control.expect("polled only when present");
                        match read_chunk(control, &mut buf) {
                            Ok(0) | Err(_) => self.control = None,
                            Ok(n) => {
                                for message in decoder.push(&buf[..n]) {
                                    match message {
                                        Ok(ControlMessage::StdinEof { bytes }) => {
                                            self.drain_input(
                                                bytes.saturating_sub(input_bytes),
                                                &mut pending_stdin,
                                                &mut buf,
                                            );
                                            close_stdin_when_flushed = true;
                                        }
                                        Ok(other) => self.handle_control(other),
                                        Err(e) => log!("{e}"),
                                    }
                                }
                            }
                        }
                    }
                }
                if flags.contains(PollFlags::POLLHUP) && source == Source::Control {
                    self.control = None;
                }
            }
            self.flush_stdin(&mut pending_stdin);
            if close_stdin_when_flushed && pending_stdin.is_empty() {
                self.pipes.stdin = None;
            }
            self.execs.finish_ended(&mut buf);
        }
        self.pipes.stdin = None;
        // The process is gone; what it wrote is still in the pipes.
        while self.pipes.stdout.is_some() || self.pipes.stderr.is_some() {
            let ready = self.wait_ready(true, PollTimeout::from(DRAIN_IDLE_MS), true);
            if ready.is_empty() {
                break;
            }
            for (source, _) in ready {
                self.copy_output(source, &mut buf);
            }
        }
        // Exec'd processes die with the container (its pid namespace): report how they ended.
        self.execs.shutdown(&self.sigchld, &mut buf);
        status.expect("loop ends with a status")
    }

    /// Polls the open streams; `drain_only` polls just stdout and stderr.
    fn wait_ready(
        &self,
        want_input: bool,
        timeout: PollTimeout,
        drain_only: bool,
    ) -> Vec<(Source, PollFlags)> {
        let mut sources = Vec::new();
        let mut fds = Vec::new();
        if let Some(fd) = &self.pipes.stdout {
            sources.push(Source::Stdout);
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        if let Some(fd) = &self.pipes.stderr {
            sources.push(Source::Stderr);
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        if !drain_only {
            sources.push(Source::Sigchld);
            fds.push(PollFd::new(self.sigchld.as_fd(), PollFlags::POLLIN));
            if let (Some(input), Some(_), true) = (self.input, &self.pipes.stdin, want_input) {
                sources.push(Source::Input);
                fds.push(PollFd::new(input.as_fd(), PollFlags::POLLIN));
            }
            if let (Some(fd), false) = (&self.pipes.stdin, want_input) {
                sources.push(Source::Stdin);
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
            }
            if let Some(control) = self.control {
                sources.push(Source::Control);
                fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
            }
            for (exec_fd, fd, flags) in self.execs.poll_fds() {
                sources.push(Source::Exec(exec_fd));
                fds.push(PollFd::new(fd, flags));
            }
            if let Some(guard) = &self.memory_guard {
                // cgroup files signal a change as POLLPRI (and POLLERR).
                sources.push(Source::MemoryEvents);
                fds.push(PollFd::new(guard.poll_fd(), PollFlags::POLLPRI));
            }
        }
        match poll(&mut fds, timeout) {
            Ok(0) | Err(_) => Vec::new(),
            Ok(_) => sources
                .into_iter()
                .zip(fds.iter())
                .filter_map(|(s, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (s, r)))
                .collect(),
        }
    }

    fn copy_output(&mut self, source: Source, buf: &mut [u8]) {
        let (pipe, mut sink) = match source {
            Source::Stdout => (&mut self.pipes.stdout, self.output),
            Source::Stderr => (&mut self.pipes.stderr, self.errors),
            _ => return,
        };
        let Some(fd) = pipe.as_ref() else { return };
        match read_chunk(fd, buf) {
            // A pty master is non-blocking: nothing more for now.
            Err(Errno::EAGAIN) => {}
            // EIO: a pty whose every slave is closed.
            Ok(0) | Err(_) => *pipe = None,
            Ok(n) => {
                // A host that stopped reading must not wedge PID 1 forever; losing output
                // then is the lesser evil, so errors are ignored.
                let _ = sink.write_all(&buf[..n]);
            }
        }
    }

    /// Moves the `missing` bytes the host sent on hvc0 but PID 1 has not read yet into
    /// `pending` (before closing stdin on stdin_eof): hvc0 and hvc2 are separate channels
    /// with no ordering between them, so the last input may still be in flight.
    fn drain_input(&mut self, mut missing: u64, pending: &mut Vec<u8>, buf: &mut [u8]) {
        let Some(input) = self.input.take() else {
            return;
        };
        while missing > 0 {
            let mut fds = [PollFd::new(input.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, PollTimeout::from(STDIN_EOF_STALL_MS)), Ok(n) if n > 0) {
                log!("stdin: {missing} bytes the host sent never arrived");
                return;
            }
            match (&*input).read(buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    missing = missing.saturating_sub(n as u64);
                }
            }
        }
    }

    fn flush_stdin(&mut self, pending: &mut Vec<u8>) {
        let Some(fd) = &self.pipes.stdin else {
            pending.clear();
            return;
        };
        while !pending.is_empty() {
            match nix::unistd::write(fd, pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // EPIPE: the process closed its stdin; drop what it will never read.
                    pending.clear();
                    self.pipes.stdin = None;
                    return;
                }
            }
        }
    }

    fn handle_control(&mut self, message: ControlMessage) {
        match message {
            ControlMessage::Signal { signal } => match Signal::try_from(signal) {
                Ok(sig) => {
                    if let Err(e) = kill(self.child, sig) {
                        log!("forwarding signal {signal} failed: {e}");
                    }
                }
                Err(_) => log!("ignoring unknown signal number {signal}"),
            },
            ControlMessage::Resize { rows, cols } => {
                if let Some(tty) = self.tty {
                    set_window_size(tty, rows, cols);
                }
            }
            // A resume only means something to a parked zygote (`warm`).
            ControlMessage::StdinEof { .. } | ControlMessage::Resume { .. } => {}
            ControlMessage::Top { id } => {
                if let Some(control) = self.control {
                    let source = crate::top::ProcSource::system(self.cgroup_dir);
                    crate::top::answer(id, &source, control);
                }
            }
            exec @ (ControlMessage::ExecStart { .. }
            | ControlMessage::ArchiveStart { .. }
            | ControlMessage::ExecStdin { .. }
            | ControlMessage::ExecStdinEof { .. }
            | ControlMessage::ExecResize { .. }
            | ControlMessage::ExecSignal { .. }
            | ControlMessage::ExecOutputAck { .. }) => self.execs.on_control(exec),
        }
    }

    /// The exec sessions' drain timer, the memory guard's window or the next usage report,
    /// whichever is soonest.
    fn poll_timeout(&self) -> PollTimeout {
        let execs = self.execs.poll_timeout();
        // (`as_millis` panics on NONE.)
        let execs = execs.is_some().then(|| execs.as_millis()).flatten();
        let guard = self
            .memory_guard
            .as_ref()
            .and_then(|g| g.timeout_ms())
            .and_then(|ms| u32::try_from(ms).ok());
        let stats = self
            .stats
            .as_ref()
            .filter(|_| self.control.is_some())
            .map(|s| s.timeout_ms(crate::timeline::boot_time_ms().unwrap_or(0)))
            .and_then(|ms| u32::try_from(ms).ok());
        let ms = [execs, guard, stats].into_iter().flatten().min();
        ms.and_then(|ms| PollTimeout::try_from(ms).ok())
            .unwrap_or(PollTimeout::NONE)
    }

    /// Sends the container's usage to the host when a report is due.
    fn report_stats(&mut self) {
        if let (Some(stats), Some(control)) = (self.stats.as_mut(), self.control) {
            stats.report_if_due(crate::timeline::boot_time_ms().unwrap_or(0), control);
        }
    }

    /// Lets the memory guard sample the cgroup (and kill, if the container thrashes).
    fn check_memory(&mut self) {
        if let Some(guard) = self.memory_guard.as_deref_mut() {
            guard.check(crate::timeline::boot_time_ms().unwrap_or(0));
        }
    }

    /// Reaps every exited child (PID 1 inherits orphans); returns the container process's
    /// status if it was among them. Exec'd processes' statuses go to their sessions.
    fn reap(&mut self) -> Option<WaitStatus> {
        let mut container = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return container,
                Ok(status) => {
                    if status.pid() == Some(self.child)
                        && matches!(status, WaitStatus::Exited(..) | WaitStatus::Signaled(..))
                    {
                        container = Some(status);
                    } else {
                        self.execs.reaped(status);
                    }
                }
            }
        }
    }
}
