//! One exec session as PID 1 keeps it: its process, its pipes, the stdin it still has to
//! write and the output the host has not acknowledged yet.

use super::{ExecPipe, DRAIN_IDLE};
use hull_protocol::EXEC_OUTPUT_WINDOW;
use nix::unistd::Pid;
use std::fs::File;
use std::time::Instant;

/// A running exec session.
pub(super) struct Session {
    pub(super) id: u32,
    pub(super) pid: Pid,
    /// Non-blocking write side of the process's stdin (pipe, or the pty master).
    pub(super) stdin: Option<File>,
    pub(super) pending_stdin: Vec<u8>,
    pub(super) close_stdin_when_flushed: bool,
    pub(super) stdout: Option<File>,
    pub(super) stderr: Option<File>,
    /// The pty master, for resizes.
    pub(super) tty: Option<File>,
    pub(super) setup_errors: Option<File>,
    pub(super) error_report: Vec<u8>,
    /// Docker status of the process once reaped.
    pub(super) status: Option<i32>,
    /// Last output, output ack or exit, for [`DRAIN_IDLE`].
    pub(super) last_activity: Instant,
    /// Output bytes sent to the host and not yet acknowledged.
    pub(super) unacked_output: u64,
}

impl Session {
    pub(super) fn output(&mut self, pipe: ExecPipe) -> Option<&mut Option<File>> {
        match pipe {
            ExecPipe::Stdout => Some(&mut self.stdout),
            ExecPipe::Stderr => Some(&mut self.stderr),
            _ => None,
        }
    }

    /// The host has not yet taken a full window of output: no more is read until it does.
    pub(super) fn output_blocked(&self) -> bool {
        self.unacked_output >= EXEC_OUTPUT_WINDOW
    }

    /// The process is reaped, its setup report read and its output drained (or idle; a
    /// session waiting for the host to take its output is not idle).
    pub(super) fn is_over(&self, now: Instant) -> bool {
        self.status.is_some()
            && self.setup_errors.is_none()
            && ((self.stdout.is_none() && self.stderr.is_none())
                || (now.duration_since(self.last_activity) >= DRAIN_IDLE && !self.output_blocked()))
    }
}
