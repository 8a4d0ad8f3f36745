//! The contract between hull on the host and `hull-init` (PID 1) in the guest.
//!
//! Everything crosses the VM boundary through virtio devices that both engines (hull-vmm and
//! QEMU) offer identically:
//!
//! * **Config disk** (virtio-blk, serial [`CONFIG_DISK_SERIAL`]): a raw file of
//!   [`CONFIG_DISK_SIZE`] bytes. At offset 0 the host writes a [`RunSpec`] framed as
//!   `MAGIC_SPEC | version u32 LE | length u32 LE | JSON`. At [`RESULT_OFFSET`] the guest writes
//!   a [`RunResult`] framed the same way with `MAGIC_RESULT`, then syncs, then powers off. The
//!   host reads the result after the VM exits, so the status survives any console mishap.
//! * **Layer disks** (virtio-blk, read-only, serials from [`layer_disk_serial`]), bottom layer
//!   first, and the **writable disk** ([`WRITABLE_DISK_SERIAL`], ext4, upper + work dirs).
//!   The guest finds disks by serial (`/sys/block/vdX/serial`), never by probe order.
//! * **Consoles** (virtio-console): [`CONSOLE_STDIO`] carries the container's tty, or its
//!   stdin+stdout when there is no tty; [`CONSOLE_STDERR`] its stderr when there is no tty;
//!   [`CONSOLE_CONTROL`] carries newline-delimited JSON [`ControlMessage`]s from host to guest
//!   (signals, window size, stdin EOF, `hull exec` sessions) and [`GuestEvent`]s from guest to
//!   host ([`GuestEvent::Ready`]: the consoles are configured, the host may send stdin; exec
//!   output and exits). Both engines provide all three ports. With only `hvc0` (hull-vmm run
//!   by hand with `--console virtio`) the guest merges stderr into it and has no control
//!   channel, hence no ready handshake and no exec either.
//!
//! **Exec sessions** (`hull exec`) are multiplexed over the control console, since the
//! console ports are fixed at boot. The host picks an id per session and sends
//! [`ControlMessage::ExecStart`]; the guest answers [`GuestEvent::ExecStarted`] (the process
//! exec'd) or, if it could not start it, shows why as stderr output and sends
//! [`GuestEvent::ExecExit`] with 125/126/127. Bytes travel inside the JSON lines as base64
//! ([`Base64`]): binary-safe, and every line stays a line. Every message is bounded: data
//! messages carry at most [`MAX_EXEC_DATA`] bytes, so every guest event fits in
//! [`MAX_EVENT_LINE`] (the host reads no longer line) and every host message in
//! [`MAX_CONTROL_LINE`] (the guest drops longer ones). Stdin is flow-controlled: the host
//! keeps at most [`EXEC_STDIN_WINDOW`] bytes per session unacknowledged
//! ([`GuestEvent::ExecStdinAck`] reports bytes the process's stdin took), so the guest never
//! buffers more than that per session, and drops (and logs) what a broken host sends beyond.
//! Output is flow-controlled the same way the other way round: the guest stops reading a
//! session's output once [`EXEC_OUTPUT_WINDOW`] bytes of it are unacknowledged
//! ([`ControlMessage::ExecOutputAck`] reports bytes the host handed to its client), so a
//! slow reader slows the process, as a pipe would, and the host never buffers more.

pub mod network;
pub use network::{GuestNetwork, ANNOTATION_NETWORK};
pub mod capabilities;
pub use capabilities::{
    capability_mask, capability_number, CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES,
};

use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};

/// Version of this contract. A guest refuses a spec whose version it does not know.
pub const PROTOCOL_VERSION: u32 = 1;

/// virtio-blk serial of the config disk (virtio-blk serials are at most 20 bytes).
pub const CONFIG_DISK_SERIAL: &str = "hull-config";
/// virtio-blk serial of the container's writable disk.
pub const WRITABLE_DISK_SERIAL: &str = "hull-rw";
/// Prefix of the layer disks' serials; see [`layer_disk_serial`].
pub const LAYER_DISK_SERIAL_PREFIX: &str = "hull-layer-";

/// Size of the config disk file.
pub const CONFIG_DISK_SIZE: u64 = 4 << 20;
/// Byte offset of the spec frame on the config disk.
pub const SPEC_OFFSET: u64 = 0;
/// Byte offset of the result frame on the config disk (sector aligned).
pub const RESULT_OFFSET: u64 = 2 << 20;
/// Largest JSON payload of either frame.
pub const MAX_FRAME_PAYLOAD: u32 = (2 << 20) - 16;

/// Magic of the spec frame.
pub const MAGIC_SPEC: &[u8; 8] = b"HULLSPEC";
/// Magic of the result frame.
pub const MAGIC_RESULT: &[u8; 8] = b"HULLEXIT";
/// Magic (8) + version (4) + length (4).
const FRAME_HEADER_LEN: usize = 16;

/// The guest console that carries the container's tty or stdin/stdout.
pub const CONSOLE_STDIO: &str = "hvc0";
/// The guest console that carries the container's stderr when there is no tty.
pub const CONSOLE_STDERR: &str = "hvc1";
/// The guest console on which the host sends [`ControlMessage`]s.
pub const CONSOLE_CONTROL: &str = "hvc2";

/// OCI spec annotation: set to [`STDIN_CLOSED`] when the container gets no stdin (Docker
/// without `-i`); the guest then gives it EOF at once instead of relaying hvc0, which also
/// works when the engine has no control console to send [`ControlMessage::StdinEof`] on.
pub const ANNOTATION_STDIN: &str = "io.hull.stdin";
/// Value of [`ANNOTATION_STDIN`] for "no stdin".
pub const STDIN_CLOSED: &str = "closed";
/// OCI spec annotation: set to [`ENABLED`] for `run --init` (the guest runs its own tiny
/// init as the container's PID 1, which starts the process, reaps and forwards signals).
pub const ANNOTATION_INIT: &str = "io.hull.init";
/// OCI spec annotation: the `--add-host` entries, one `IP<TAB>NAME` line each, which the
/// guest writes into the container's /etc/hosts after the standard lines.
pub const ANNOTATION_EXTRA_HOSTS: &str = "io.hull.extra-hosts";
/// Value of a yes/no annotation for "yes".
pub const ENABLED: &str = "true";

/// OCI spec annotation: set to [`MODE_HOLD`] to boot a stopped container's disks for archive
/// sessions only (`hull cp` on a container that does not run): hull-init sets the
/// container up (root, mounts, namespaces) but its process never execs; it waits for a
/// signal ([`ControlMessage::Signal`]), and the VM then powers off as after any exit.
pub const ANNOTATION_MODE: &str = "io.hull.mode";
/// Value of [`ANNOTATION_MODE`] for a helper boot.
pub const MODE_HOLD: &str = "hold";

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

/// I/O port the guest init writes [`BOOT_TIMER_VALUE`] to when userspace is reached.
/// hull-vmm logs the time since VMM start; other engines ignore the write.
pub const BOOT_TIMER_PORT: u16 = 0x3f4;
/// Value written to [`BOOT_TIMER_PORT`].
pub const BOOT_TIMER_VALUE: u8 = 123;

/// The serial of the layer disk at `index` (0 = bottom-most layer).
pub fn layer_disk_serial(index: usize) -> String {
    format!("{LAYER_DISK_SERIAL_PREFIX}{index}")
}

/// Errors reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The frame's magic is absent: nothing was written there.
    #[error("no {what} frame on the config disk")]
    Missing {
        /// "spec" or "result".
        what: &'static str,
    },
    /// The frame was written by a newer (or older) hull.
    #[error("{what} has protocol version {found}, this side speaks {PROTOCOL_VERSION}: use the same hull release on host and guest")]
    Version {
        /// "spec" or "result".
        what: &'static str,
        /// The version found.
        found: u32,
    },
    /// The frame's declared length does not fit.
    #[error("{what} frame length {len} exceeds {MAX_FRAME_PAYLOAD} bytes")]
    TooLarge {
        /// "spec" or "result".
        what: &'static str,
        /// The declared length.
        len: u64,
    },
    /// The JSON did not parse.
    #[error("{what} frame is not valid JSON")]
    Json {
        /// "spec" or "result".
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Reading or writing the disk failed.
    #[error("config disk I/O failed")]
    Io(#[from] std::io::Error),
}

/// A read-only image layer, presented to the guest as one virtio-blk disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDisk {
    /// The disk's virtio-blk serial.
    pub serial: String,
    /// Filesystem on the disk: "erofs" or "ext4".
    pub fstype: String,
    /// The layer's diff id (sha256 of the uncompressed tar), for messages.
    pub diff_id: String,
}

/// The container's writable disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritableDisk {
    /// The disk's virtio-blk serial.
    pub serial: String,
    /// Filesystem on the disk ("ext4").
    pub fstype: String,
    /// The host deletes the disk when the container exits (`run --rm`): the guest skips
    /// making it durable at exit.
    #[serde(default)]
    pub ephemeral: bool,
}

/// Everything the guest init needs to run one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// Must equal [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The container id, for messages and cgroup names.
    pub container_id: String,
    /// Image layers, bottom first.
    pub layers: Vec<LayerDisk>,
    /// The writable layer; `None` runs on a tmpfs upper (lost at exit).
    pub writable: Option<WritableDisk>,
    /// The OCI runtime spec (process, hostname, mounts, namespaces, resources).
    pub config: oci_spec::runtime::Spec,
}

/// How the container ended, or why it never started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    /// Must equal [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Docker's exit status: the exit code, 128+N for death by signal N, 126 "cannot
    /// execute", 127 "not found", 125 for any other setup failure.
    pub exit_code: i32,
    /// The signal that killed the container process, if one did.
    pub signal: Option<i32>,
    /// The container was killed by the OOM killer of its cgroup.
    pub oom_killed: bool,
    /// Why the container could not be started (for example "exec: /bin/foo: no such file").
    pub error: Option<String>,
    /// Milliseconds from kernel start (CLOCK_BOOTTIME) to the container's exec.
    pub boot_to_exec_ms: Option<u64>,
}

/// Bytes carried in a JSON message as a base64 string (RFC 4648, standard alphabet, padded).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64({:?})", String::from_utf8_lossy(&self.0))
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` as padded base64.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let group = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                text.push(char::from(
                    BASE64_ALPHABET[((group >> shift) & 63) as usize],
                ));
            } else {
                text.push('=');
            }
        }
    }
    text
}

fn base64_value(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes padded base64; `None` for anything else (wrong length, foreign characters,
/// padding in the middle, non-zero bits after the last byte).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let groups = bytes.len() / 4;
    for (index, group) in bytes.chunks(4).enumerate() {
        let padding = group.iter().rev().take_while(|c| **c == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return None;
        }
        let mut value = 0u32;
        for c in &group[..4 - padding] {
            value = (value << 6) | base64_value(*c)?;
        }
        // Each "=" stands for 6 missing bits.
        for _ in 0..padding {
            value <<= 6;
        }
        let [_, first, second, third] = value.to_be_bytes();
        let decoded = [first, second, third];
        let keep = 3 - padding;
        if decoded[keep..].iter().any(|b| *b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..keep]);
    }
    Some(out)
}

impl Serialize for Base64 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64_decode(&text)
            .map(Base64)
            .ok_or_else(|| serde::de::Error::custom("invalid base64 data"))
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

/// A filesystem operation hull-init itself performs in the container's root (the merged
/// overlay view the container's process sees, its mounts included), for `hull cp` and any
/// later verb that moves files in or out of a container (`diff`, `commit`). It runs as an
/// exec session ([`ControlMessage::ArchiveStart`]): its output comes as
/// [`GuestEvent::ExecOutput`] (stdout: the result; stderr: why it failed), its input as
/// [`ControlMessage::ExecStdin`], its end as [`GuestEvent::ExecExit`] with
/// [`ARCHIVE_OK`], [`ARCHIVE_NOT_FOUND`] or [`ARCHIVE_FAILED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ArchiveRequest {
    /// Describe `path` without following a final symlink: one [`PathStat`] as JSON on stdout.
    Stat {
        /// Absolute path in the container.
        path: String,
    },
    /// A tar stream of `path` on stdout: its top entry is named after the path's last
    /// component (`.` for `dir/.`, Docker's "content of"), a directory's entries under it.
    /// Symlinks are archived as links; with `follow_link` a final symlink is resolved (in
    /// the container's root) and its target archived under the link's name.
    Export {
        /// Absolute path in the container.
        path: String,
        /// Docker's `cp -L`.
        #[serde(default)]
        follow_link: bool,
    },
    /// Extract the tar stream read on stdin into the existing directory `path`, entries
    /// relative to it; an existing directory is never replaced by a non-directory nor the
    /// other way round. Owners are kept with `keep_owner` (Docker's `cp -a`), else root's.
    Import {
        /// Absolute path of a directory in the container.
        path: String,
        /// Docker's `cp -a`.
        #[serde(default)]
        keep_owner: bool,
    },
    /// The container's changes against its image (`hull diff`): one [`ContainerChange`] as
    /// JSON per line on stdout, read from the overlay's upper directory.
    Changes,
    /// The container's changes as an OCI layer tar on stdout (`hull commit`): whiteouts as
    /// `.wh.` files, hull-init's own files left out.
    ExportChanges {
        /// Freeze the container's processes (its cgroup) while the tar is written (Docker's
        /// `commit --pause`).
        #[serde(default)]
        freeze: bool,
        /// Only what changed since this container's previous export (a build runs its
        /// steps in one VM, each step its own layer): changed and new entries with their
        /// parent directories, and whiteouts for what went away.
        #[serde(default)]
        since_last: bool,
    },
}

/// One line of [`ArchiveRequest::Changes`] (Docker's `docker diff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerChange {
    /// `A` added, `C` changed, `D` deleted.
    pub kind: char,
    /// Absolute path in the container.
    pub path: String,
}

impl ArchiveRequest {
    /// Whether the operation reads the session's stdin.
    pub fn reads_stdin(&self) -> bool {
        matches!(self, Self::Import { .. })
    }
}

/// [`ArchiveRequest`] status: done.
pub const ARCHIVE_OK: i32 = 0;
/// [`ArchiveRequest`] status: failed; stderr says why.
pub const ARCHIVE_FAILED: i32 = 1;
/// [`ArchiveRequest`] status: the path does not exist (or a parent is not a directory).
pub const ARCHIVE_NOT_FOUND: i32 = 2;

/// What [`ArchiveRequest::Stat`] reports (Docker's `PathStat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// The last component of the path.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// The target of a symlink; empty otherwise.
    #[serde(default)]
    pub link_target: String,
}

impl PathStat {
    /// `S_IFMT` of [`Self::mode`].
    const TYPE_MASK: u32 = 0o170_000;

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.mode & Self::TYPE_MASK == 0o040_000
    }

    /// A symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & Self::TYPE_MASK == 0o120_000
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & Self::TYPE_MASK == 0o100_000
    }
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
}

/// Most processes one `top` answer lists (the rest is cut: [`GuestEvent::TopEnd`] says so).
pub const TOP_MAX_PROCESSES: usize = 256;
/// Most characters of a process's command line in a [`TopProcess`]: with escaping, every
/// `top_process` event stays under [`MAX_EVENT_LINE`].
pub const TOP_MAX_ARGS: usize = 1024;
/// Most bytes of `top_process` lines one answer sends: the answer must stay well under what
/// a console socket buffers (see [`EXEC_OUTPUT_WINDOW`]).
pub const TOP_MAX_BYTES: usize = 64 * 1024;

/// One process of the container, as the guest's /proc shows it (`hull top`): what `ps`
/// needs for its columns, raw; the host formats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopProcess {
    /// Its pid (in the guest's root pid namespace).
    pub pid: i32,
    /// Its parent's pid.
    pub ppid: i32,
    /// Its real uid.
    pub uid: u32,
    /// The uid's name in the container's /etc/passwd, if it has one.
    #[serde(default)]
    pub user: Option<String>,
    /// Its state letter (`R`, `S`, `D`, `Z`, `T`, ...).
    pub state: String,
    /// Its controlling terminal (`pts/0`, `hvc0`), `?` for none.
    pub tty: String,
    /// Milliseconds since it started.
    pub age_ms: u64,
    /// CPU time used (user + system), in milliseconds.
    pub cpu_ms: u64,
    /// Resident memory in KiB.
    pub rss_kib: u64,
    /// Virtual memory in KiB.
    pub vsz_kib: u64,
    /// Its name (`comm`, at most 15 bytes).
    pub comm: String,
    /// Its command line, arguments joined by spaces (at most [`TOP_MAX_ARGS`] characters;
    /// empty for a process without one, such as a zombie).
    pub args: String,
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

fn write_frame<W: Write + Seek, T: Serialize>(
    disk: &mut W,
    offset: u64,
    magic: &[u8; 8],
    value: &T,
    what: &'static str,
) -> Result<(), ProtocolError> {
    let json = serde_json::to_vec(value).map_err(|source| ProtocolError::Json { what, source })?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|len| *len <= MAX_FRAME_PAYLOAD)
        .ok_or(ProtocolError::TooLarge {
            what,
            len: json.len() as u64,
        })?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + json.len());
    frame.extend_from_slice(magic);
    frame.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&json);
    // Pad to a whole sector: the guest may write through O_DIRECT.
    frame.resize(frame.len().div_ceil(512) * 512, 0);
    disk.seek(SeekFrom::Start(offset))?;
    disk.write_all(&frame)?;
    disk.flush()?;
    Ok(())
}

fn read_frame<R: Read + Seek, T: for<'de> Deserialize<'de>>(
    disk: &mut R,
    offset: u64,
    magic: &[u8; 8],
    what: &'static str,
) -> Result<T, ProtocolError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    disk.seek(SeekFrom::Start(offset))?;
    disk.read_exact(&mut header)?;
    if &header[..8] != magic {
        return Err(ProtocolError::Missing { what });
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::Version {
            what,
            found: version,
        });
    }
    let len = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
    if len > MAX_FRAME_PAYLOAD {
        return Err(ProtocolError::TooLarge {
            what,
            len: u64::from(len),
        });
    }
    let mut json = vec![0u8; usize::try_from(len).expect("u32 fits usize on x86_64")];
    disk.read_exact(&mut json)?;
    serde_json::from_slice(&json).map_err(|source| ProtocolError::Json { what, source })
}

impl RunSpec {
    /// Writes the spec frame at [`SPEC_OFFSET`].
    pub fn write_to<W: Write + Seek>(&self, disk: &mut W) -> Result<(), ProtocolError> {
        write_frame(disk, SPEC_OFFSET, MAGIC_SPEC, self, "spec")
    }

    /// Reads and checks the spec frame at [`SPEC_OFFSET`].
    pub fn read_from<R: Read + Seek>(disk: &mut R) -> Result<Self, ProtocolError> {
        let spec: Self = read_frame(disk, SPEC_OFFSET, MAGIC_SPEC, "spec")?;
        if spec.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                what: "spec",
                found: spec.version,
            });
        }
        Ok(spec)
    }
}

impl RunResult {
    /// Writes the result frame at [`RESULT_OFFSET`].
    pub fn write_to<W: Write + Seek>(&self, disk: &mut W) -> Result<(), ProtocolError> {
        write_frame(disk, RESULT_OFFSET, MAGIC_RESULT, self, "result")
    }

    /// Reads the result frame at [`RESULT_OFFSET`]; [`ProtocolError::Missing`] if the guest
    /// never wrote one (it crashed or was killed).
    pub fn read_from<R: Read + Seek>(disk: &mut R) -> Result<Self, ProtocolError> {
        read_frame(disk, RESULT_OFFSET, MAGIC_RESULT, "result")
    }

    /// A result for a container that exited normally with `code`.
    pub fn exited(code: i32) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            exit_code: code,
            ..Self::default()
        }
    }

    /// A result for a container killed by `signal`: exit code 128+signal, as Docker reports.
    pub fn signaled(signal: i32) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            exit_code: 128 + signal,
            signal: Some(signal),
            ..Self::default()
        }
    }

    /// A result for a container that could not start; `exit_code` is 125, 126 or 127.
    pub fn failed(exit_code: i32, error: impl Into<String>) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            exit_code,
            error: Some(error.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn disk() -> Cursor<Vec<u8>> {
        Cursor::new(vec![0u8; usize::try_from(CONFIG_DISK_SIZE).unwrap()])
    }

    #[test]
    fn writable_disk_is_kept_unless_marked_ephemeral() {
        let disk: WritableDisk =
            serde_json::from_str(r#"{"serial":"hull-rw","fstype":"ext4"}"#).unwrap();
        assert!(!disk.ephemeral);
        let disk: WritableDisk =
            serde_json::from_str(r#"{"serial":"hull-rw","fstype":"ext4","ephemeral":true}"#)
                .unwrap();
        assert!(disk.ephemeral);
    }

    fn spec() -> RunSpec {
        RunSpec {
            version: PROTOCOL_VERSION,
            container_id: "abc".into(),
            layers: vec![LayerDisk {
                serial: layer_disk_serial(0),
                fstype: "erofs".into(),
                diff_id: "sha256:00".into(),
            }],
            writable: Some(WritableDisk {
                serial: WRITABLE_DISK_SERIAL.into(),
                fstype: "ext4".into(),
                ephemeral: false,
            }),
            config: oci_spec::runtime::Spec::default(),
        }
    }

    #[test]
    fn spec_and_result_round_trip_independently() {
        let mut disk = disk();
        spec().write_to(&mut disk).unwrap();
        assert!(matches!(
            RunResult::read_from(&mut disk),
            Err(ProtocolError::Missing { what: "result" })
        ));
        RunResult::signaled(9).write_to(&mut disk).unwrap();
        let back = RunSpec::read_from(&mut disk).unwrap();
        assert_eq!(back.layers, spec().layers);
        let result = RunResult::read_from(&mut disk).unwrap();
        assert_eq!(result.exit_code, 137);
        assert_eq!(result.signal, Some(9));
    }

    #[test]
    fn other_versions_are_refused_with_a_clear_message() {
        let mut disk = disk();
        spec().write_to(&mut disk).unwrap();
        disk.get_mut()[8] = 99;
        let err = RunSpec::read_from(&mut disk).unwrap_err();
        assert!(err.to_string().contains("protocol version 99"), "{err}");
    }

    #[test]
    fn hostile_length_is_refused_before_allocating() {
        let mut disk = disk();
        spec().write_to(&mut disk).unwrap();
        disk.get_mut()[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            RunSpec::read_from(&mut disk),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn serials_fit_virtio_blk_limit() {
        assert!(layer_disk_serial(999).len() <= 20);
        assert!(CONFIG_DISK_SERIAL.len() <= 20);
    }

    #[test]
    fn guest_events_are_single_json_lines() {
        assert_eq!(GuestEvent::Ready.to_line(), "{\"type\":\"ready\"}\n");
        assert_eq!(
            GuestEvent::parse_line(b"{\"type\":\"ready\"}\r\n"),
            Some(GuestEvent::Ready)
        );
        assert_eq!(GuestEvent::parse_line(b"{\"type\":\"future\"}"), None);
        assert_eq!(GuestEvent::parse_line(b"\xff\xfe"), None);
    }

    #[test]
    fn base64_round_trips_every_byte_and_length() {
        let all: Vec<u8> = (0..=255u8).collect();
        for len in 0..all.len() {
            let text = base64_encode(&all[..len]);
            assert_eq!(text.len(), len.div_ceil(3) * 4);
            assert_eq!(base64_decode(&text).as_deref(), Some(&all[..len]), "{len}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"f"), "Zg==");
    }

    #[test]
    fn base64_garbage_is_refused() {
        for bad in [
            "Zg=",
            "Z===",
            "Zg==Zg==",
            "Zm9v!mFy",
            "Zh==",
            "Zm9=",
            "====",
            "\u{e9}aaa",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
        let line = r#"{"type":"exec_stdin","id":1,"data":"not base64!"}"#;
        assert!(serde_json::from_str::<ControlMessage>(line).is_err());
    }

    #[test]
    fn exec_messages_round_trip_binary_data() {
        let message = ControlMessage::ExecStdin {
            id: 7,
            data: Base64(vec![0, b'\n', 0xff, b'"']),
        };
        let line = message.to_line();
        assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
        assert_eq!(
            serde_json::from_str::<ControlMessage>(line.trim()).unwrap(),
            message
        );
        let start = ControlMessage::ExecStart {
            id: 1,
            request: ExecRequest {
                args: vec!["sh".into()],
                tty: true,
                console_size: Some((24, 80)),
                ..ExecRequest::default()
            },
        };
        let line = start.to_line();
        assert_eq!(
            serde_json::from_str::<ControlMessage>(line.trim()).unwrap(),
            start
        );
        let ack = ControlMessage::ExecOutputAck { id: 3, bytes: 4096 };
        assert_eq!(
            ack.to_line(),
            "{\"type\":\"exec_output_ack\",\"id\":3,\"bytes\":4096}\n"
        );
        // Optional request fields may be left out.
        let minimal = r#"{"type":"exec_start","id":2,"request":{"args":["true"]}}"#;
        assert!(matches!(
            serde_json::from_str::<ControlMessage>(minimal),
            Ok(ControlMessage::ExecStart { id: 2, .. })
        ));
    }

    #[test]
    fn the_largest_guest_event_fits_the_hosts_line_limit() {
        let event = GuestEvent::ExecOutput {
            id: u32::MAX,
            stream: ExecStream::Stderr,
            data: Base64(vec![0xff; MAX_EXEC_DATA]),
        };
        let line = event.to_line();
        assert!(line.len() <= MAX_EVENT_LINE, "{}", line.len());
        assert_eq!(GuestEvent::parse_line(line.as_bytes()), Some(event));
        let exit = GuestEvent::ExecExit {
            id: u32::MAX,
            exit_code: i32::MIN,
        };
        assert!(exit.to_line().len() <= MAX_EVENT_LINE);
        let stdin = ControlMessage::ExecStdin {
            id: u32::MAX,
            data: Base64(vec![0xff; MAX_EXEC_DATA]),
        };
        assert!(stdin.to_line().len() <= MAX_CONTROL_LINE);
    }

    #[test]
    fn the_largest_top_process_fits_the_hosts_line_limit() {
        // Every character of the command line escaped at the worst (`\"`), and the longest
        // other fields.
        let event = GuestEvent::TopProcess {
            id: u32::MAX,
            process: TopProcess {
                pid: i32::MAX,
                ppid: i32::MAX,
                uid: u32::MAX,
                user: Some("u".repeat(32)),
                state: "R".into(),
                tty: "pts/4294967295".into(),
                age_ms: u64::MAX,
                cpu_ms: u64::MAX,
                rss_kib: u64::MAX,
                vsz_kib: u64::MAX,
                comm: "c".repeat(15),
                args: "\"".repeat(TOP_MAX_ARGS),
            },
        };
        let line = event.to_line();
        assert!(line.len() <= MAX_EVENT_LINE, "{}", line.len());
        assert_eq!(GuestEvent::parse_line(line.as_bytes()), Some(event));
        assert_eq!(
            ControlMessage::Top { id: 4 }.to_line(),
            "{\"type\":\"top\",\"id\":4}\n"
        );
    }

    #[test]
    fn archive_requests_round_trip_and_name_their_op() {
        let start = ControlMessage::ArchiveStart {
            id: 4,
            request: ArchiveRequest::Export {
                path: "/etc/.".into(),
                follow_link: true,
            },
        };
        let line = start.to_line();
        assert!(line.contains("\"op\":\"export\""), "{line}");
        assert_eq!(
            serde_json::from_str::<ControlMessage>(line.trim()).unwrap(),
            start
        );
        let minimal = r#"{"type":"archive_start","id":1,"request":{"op":"import","path":"/"}}"#;
        let Ok(ControlMessage::ArchiveStart { request, .. }) = serde_json::from_str(minimal) else {
            panic!("optional fields may be left out")
        };
        assert!(request.reads_stdin());
        let stat = PathStat {
            mode: 0o040_755,
            ..PathStat::default()
        };
        assert!(stat.is_dir() && !stat.is_file() && !stat.is_symlink());
    }

    #[test]
    fn control_messages_are_single_json_lines() {
        let line = ControlMessage::Resize { rows: 24, cols: 80 }.to_line();
        assert_eq!(line, "{\"type\":\"resize\",\"rows\":24,\"cols\":80}\n");
        let back: ControlMessage = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(back, ControlMessage::Resize { rows: 24, cols: 80 });
    }
}
