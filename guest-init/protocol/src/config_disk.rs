//! The config disk: the host's [`RunSpec`] at [`SPEC_OFFSET`] and the guest's [`RunResult`]
//! at [`RESULT_OFFSET`], each a frame of magic, version, length and JSON; the disks' serials.

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
