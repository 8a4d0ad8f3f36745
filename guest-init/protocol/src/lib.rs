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
//!   (signals, window size, stdin EOF) and [`GuestEvent`]s from guest to host (today only
//!   [`GuestEvent::Ready`]: the consoles are configured, the host may send stdin). An engine
//!   with a single console port (hull-vmm today) only provides `hvc0`: the guest then merges
//!   stderr into it and has no control channel, hence no ready handshake either.

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
    fn control_messages_are_single_json_lines() {
        let line = ControlMessage::Resize { rows: 24, cols: 80 }.to_line();
        assert_eq!(line, "{\"type\":\"resize\",\"rows\":24,\"cols\":80}\n");
        let back: ControlMessage = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(back, ControlMessage::Resize { rows: 24, cols: 80 });
    }
}
