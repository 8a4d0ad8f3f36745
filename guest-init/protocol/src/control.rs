//! The control console ([`CONSOLE_CONTROL`]): host-to-guest [`ControlMessage`]s and
//! guest-to-host [`GuestEvent`]s, one JSON object per line, with the exec sessions
//! multiplexed over them; the consoles' names and the messages' bounds.

use crate::*;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The guest console that carries the container's tty or stdin/stdout.
pub const CONSOLE_STDIO: &str = "hvc0";
/// The guest console that carries the container's stderr when there is no tty.
pub const CONSOLE_STDERR: &str = "hvc1";
/// The guest console on which the host sends [`ControlMessage`]s.
pub const CONSOLE_CONTROL: &str = "hvc2";

/// Longest line the guest accepts on [`CONSOLE_CONTROL`]; a longer one is dropped.
pub const MAX_CONTROL_LINE: usize = 64 * 1024;
/// Longest [`GuestEvent`] line the host reads at once; every event the guest sends fits.
pub const MAX_EVENT_LINE: usize = 4096;
/// Most payload bytes in one [`ControlMessage::ExecStdin`] or [`GuestEvent::ExecOutput`]
/// (base64 makes 2732 characters of it: the line stays under [`MAX_EVENT_LINE`]).
pub const MAX_EXEC_DATA: usize = 2048;
/// Stdin bytes the host may have sent to one exec session without a
/// [`GuestEvent::ExecStdinAck`] for them: the most the guest buffers per session.
pub const EXEC_STDIN_WINDOW: u64 = 64 * 1024;
/// Output bytes the guest may have sent for one exec session without a
/// [`ControlMessage::ExecOutputAck`] for them (it may overshoot by one [`MAX_EXEC_DATA`]
/// message): the most the host buffers per session, and the most of it in flight on hvc2.
/// Small on purpose: QEMU drops what a virtconsole port cannot write to its host socket at
/// once, so the bytes in flight must stay well under a unix socket's buffer (~208 KiB),
/// base64 (4/3) and several sessions included.
pub const EXEC_OUTPUT_WINDOW: u64 = 32 * 1024;

/// Bytes carried in a JSON message as a base64 string (RFC 4648, standard alphabet, padded;
/// anything else, non-zero trailing bits included, is refused).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl Serialize for Base64 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Base64)
            .map_err(|_| serde::de::Error::custom("invalid base64 data"))
    }
}

/// What `hull exec` asks the guest to run in the container (Docker's exec options).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// argv; `args[0]` is looked up on the container's `$PATH`.
    pub args: Vec<String>,
    /// `KEY=value` entries added to (and overriding) the container's environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Absolute working directory; `None`: the container's.
    #[serde(default)]
    pub cwd: Option<String>,
    /// `-u` (`name|uid[:group|gid]`), resolved with the container's /etc/passwd and
    /// /etc/group; `None`: the container process's user.
    #[serde(default)]
    pub user: Option<String>,
    /// Give the process a pseudo-terminal (stdout and stderr are then one stream).
    #[serde(default)]
    pub tty: bool,
    /// Relay stdin ([`ControlMessage::ExecStdin`]); without it the process reads EOF.
    #[serde(default)]
    pub stdin: bool,
    /// Initial terminal size (rows, cols) when `tty`.
    #[serde(default)]
    pub console_size: Option<(u16, u16)>,
}

/// Which output stream of an exec'd process a [`GuestEvent::ExecOutput`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStream {
    /// stdout (or the terminal's output).
    Stdout,
    /// stderr (no tty).
    Stderr,
}

/// A message from host to guest on [`CONSOLE_CONTROL`], one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlMessage {
    /// Deliver a signal to the container's process (SIGTERM from `hull stop`, any from
    /// `hull kill`).
    Signal {
        /// Signal number.
        signal: i32,
    },
    /// The host terminal changed size: set it on the container's tty (raises SIGWINCH).
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// The host's stdin reached EOF after it wrote `bytes` bytes in all to hvc0. hvc0 and
    /// hvc2 are separate channels with no ordering between them, so the guest first reads
    /// hvc0 up to that count, then closes the container's stdin (no-tty mode only).
    StdinEof {
        /// Total bytes the host wrote to hvc0.
        bytes: u64,
    },
    /// Start an extra process in the running container (`hull exec`) as session `id`.
    ExecStart {
        /// The host's id for the session (unique among running sessions).
        id: u32,
        /// What to run.
        request: ExecRequest,
    },
    /// Run the built-in [`ArchiveRequest`] in the container as session `id` (exec's id
    /// space, messages and events).
    ArchiveStart {
        /// The host's id for the session (unique among running sessions).
        id: u32,
        /// What to do.
        request: ArchiveRequest,
    },
    /// Bytes for the stdin of session `id` (at most [`MAX_EXEC_DATA`]).
    ExecStdin {
        /// Session.
        id: u32,
        /// The bytes.
        data: Base64,
    },
    /// The stdin of session `id` ends once the bytes sent before this are written.
    ExecStdinEof {
        /// Session.
        id: u32,
    },
    /// The terminal of session `id` changed size.
    ExecResize {
        /// Session.
        id: u32,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Deliver a signal to the process of session `id`.
    ExecSignal {
        /// Session.
        id: u32,
        /// Signal number.
        signal: i32,
    },
    /// The host handed `bytes` more bytes of session `id`'s output to its client (or
    /// dropped them, the client being gone): the guest may send that many more.
    ExecOutputAck {
        /// Session.
        id: u32,
        /// Bytes taken.
        bytes: u64,
    },
    /// List the container's processes (`hull top`) as request `id`: the guest answers
    /// [`GuestEvent::TopProcess`] per process, then [`GuestEvent::TopEnd`].
    Top {
        /// The host's id for the request.
        id: u32,
    },
    /// The first message to a VM restored from a zygote (`warm`): the guest sets its clock
    /// and reseeds its random generator from it, probes its devices afresh, then answers
    /// [`GuestEvent::Resumed`].
    Resume {
        /// The host's CLOCK_REALTIME when it sent this, in nanoseconds since the epoch.
        realtime_ns: u64,
        /// Host entropy ([`RESUME_ENTROPY_BYTES`]).
        entropy: Base64,
        /// A warm-pool VM (`warm`): rehearse a container (the spec on the config disk, on
        /// the disks the VM has now), clean up and park again for the next resume, so the
        /// guest code a container's start runs is already translated when one is handed over.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rehearse: bool,
        /// With `rehearse`: how long the VM may then stay parked unclaimed, in seconds,
        /// before it powers itself off (0: no limit), so that a pool nobody uses does not
        /// hold memory for ever.
        #[serde(default, skip_serializing_if = "is_zero")]
        park_idle_s: u32,
    },
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl ControlMessage {
    /// The message as one line of JSON, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("control messages always serialize");
        line.push('\n');
        line
    }
}

/// A message from guest to host on [`CONSOLE_CONTROL`], one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuestEvent {
    /// hull-init has configured the consoles (hvc0 raw in no-tty mode). Bytes the host writes
    /// to hvc0 before this may be echoed by the guest tty's default line discipline, so the
    /// host holds the container's stdin until it has read this line.
    Ready,
    /// A zygote's hull-init has booted and waits for [`ControlMessage::Resume`]: the host may
    /// save the VM now (`warm`).
    Parked,
    /// A restored VM has applied [`ControlMessage::Resume`] (clock, entropy, devices) and
    /// goes on to read the run spec.
    Resumed,
    /// The process of exec session `id` is running (its exec succeeded).
    ExecStarted {
        /// Session.
        id: u32,
    },
    /// Output of exec session `id` (at most [`MAX_EXEC_DATA`] bytes).
    ExecOutput {
        /// Session.
        id: u32,
        /// Which stream.
        stream: ExecStream,
        /// The bytes.
        data: Base64,
    },
    /// The stdin of session `id` took `bytes` more bytes: the host may send that many more.
    ExecStdinAck {
        /// Session.
        id: u32,
        /// Bytes written to the process's stdin since the last ack.
        bytes: u64,
    },
    /// The container's use of its cgroup, sent every second while it runs (`hull stats`).
    Stats {
        /// memory.current: bytes the container uses (page cache included, as Docker's).
        memory_bytes: u64,
        /// memory.max: its limit, none when unlimited.
        memory_limit: Option<u64>,
        /// pids.current.
        pids: u64,
        /// cpu.stat usage_usec: CPU time used so far.
        cpu_usec: u64,
    },
    /// Session `id` is over; its output was all sent before this event.
    ExecExit {
        /// Session.
        id: u32,
        /// Docker's status: the exit code, 128+N for signal N, 126/127 when the command
        /// cannot be executed / is not found, 125 for other failures to start it.
        exit_code: i32,
    },
    /// One process of `top` request `id`.
    TopProcess {
        /// Request.
        id: u32,
        /// The process.
        process: TopProcess,
    },
    /// `top` request `id` is answered: every process was sent before this.
    TopEnd {
        /// Request.
        id: u32,
        /// Processes were left out ([`TOP_MAX_PROCESSES`], [`TOP_MAX_BYTES`]).
        truncated: bool,
    },
}

impl GuestEvent {
    /// The event as one line of JSON, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("guest events always serialize");
        line.push('\n');
        line
    }

    /// Parses one line (surrounding whitespace ignored); `None` for anything else, so a newer
    /// guest's unknown events never break an older host.
    pub fn parse_line(line: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(line).ok()?.trim();
        serde_json::from_str(text).ok()
    }
}
