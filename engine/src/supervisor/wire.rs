//! The supervisor's wire format, in one place: how other hull processes talk to a
//! container's supervisor on its `control.sock`.
//!
//! A connection starts with one JSON line, a [`Request`]. `control` and `kill_vm` end there.
//! `attach` and `exec` turn the rest of the connection into frames, both ways: 1 byte kind,
//! 4 bytes big-endian payload length (at most [`MAX_FRAME`]), the payload. The kinds are
//! shared: [`STDIN`], [`STDIN_EOF`], [`STDOUT`], [`STDERR`] and [`EXIT`] mean the same in
//! both sessions; [`RESIZE`], [`SIGNAL`] and [`STARTED`] are exec's alone (`super::attach`
//! and `super::exec` say what each session sends when).

use hull_protocol::{ArchiveRequest, ControlMessage, ExecRequest};
use std::io::{self, Read, Write};

/// Frame kind: bytes for the container's stdin (client -> supervisor).
pub const STDIN: u8 = 0;
/// Frame kind: container stdout (supervisor -> client).
pub const STDOUT: u8 = 1;
/// Frame kind: container stderr (supervisor -> client).
pub const STDERR: u8 = 2;
/// Frame kind: the container's exit status, big-endian i32 (supervisor -> client, last).
pub const EXIT: u8 = 3;
/// Largest payload either side accepts: a bigger length is a broken peer.
pub const MAX_FRAME: usize = 64 * 1024;

/// Writes one frame (`payload` longer than [`MAX_FRAME`] is split; an empty one is one
/// empty frame: a bare signal such as `exec`'s STDIN_EOF).
pub fn write_frame(to: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let empty: [&[u8]; 1] = [&[]];
    let chunks: Box<dyn Iterator<Item = &[u8]>> = if payload.is_empty() {
        Box::new(empty.into_iter())
    } else {
        Box::new(payload.chunks(MAX_FRAME))
    };
    for chunk in chunks {
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        let mut frame = Vec::with_capacity(5 + chunk.len());
        frame.push(kind);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(chunk);
        to.write_all(&frame)?;
    }
    to.flush()
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(from: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match from.read(&mut header[..1])? {
        0 => return Ok(None),
        _ => from.read_exact(&mut header[1..])?,
    }
    let len = usize::try_from(u32::from_be_bytes([
        header[1], header[2], header[3], header[4],
    ]))
    .unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes exceeds {MAX_FRAME}"),
        ));
    }
    let mut payload = vec![0u8; len];
    from.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

/// Frame kind: the client's stdin ended (client -> supervisor).
pub const STDIN_EOF: u8 = 4;
/// Frame kind: the client's terminal size, rows and cols as big-endian u16 (client ->
/// supervisor).
pub const RESIZE: u8 = 5;
/// Frame kind: a signal for the process, big-endian i32 (client -> supervisor).
pub const SIGNAL: u8 = 6;
/// Frame kind: the process exec'd (supervisor -> client; `exec -d` waits for it).
pub const STARTED: u8 = 7;
/// Frame kind: the client detaches (its detach keys): the process keeps running with its
/// stdin open, as after Docker's ctrl-p ctrl-q (client -> supervisor).
pub const DETACH: u8 = 8;

/// A request another hull process sends to the supervisor.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Forward to the guest.
    Control {
        /// The message.
        message: ControlMessage,
    },
    /// Kill the VMM outright.
    KillVm,
    /// Become an attach session: the rest of the connection is [`super::attach`] frames.
    Attach,
    /// Run a process in the container: the rest of the connection is [`super::exec`] frames.
    Exec {
        /// What to run.
        exec: ExecRequest,
    },
    /// List the container's processes: answered with one JSON line, a
    /// [`super::top::TopReply`].
    Top,
    /// Run hull-init's built-in archive operation in the container (`hull cp`): the rest of
    /// the connection is exec's frames.
    Archive {
        /// What to do.
        archive: ArchiveRequest,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split_large_payloads() {
        let mut wire = Vec::new();
        write_frame(&mut wire, STDOUT, b"hello").unwrap();
        write_frame(&mut wire, STDERR, &vec![7u8; MAX_FRAME + 1]).unwrap();
        let mut from = wire.as_slice();
        assert_eq!(
            read_frame(&mut from).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        assert_eq!(read_frame(&mut from).unwrap().unwrap().1.len(), MAX_FRAME);
        assert_eq!(read_frame(&mut from).unwrap(), Some((STDERR, vec![7u8])));
        assert_eq!(read_frame(&mut from).unwrap(), None);
        let mut wire = Vec::new();
        write_frame(&mut wire, EXIT, &[]).unwrap();
        assert_eq!(
            wire,
            [EXIT, 0, 0, 0, 0],
            "an empty payload is one empty frame"
        );
    }

    #[test]
    fn oversized_or_truncated_frames_are_errors_not_panics() {
        let mut huge = vec![STDIN];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_frame(&mut huge.as_slice()).is_err());
        let truncated = [STDIN, 0, 0, 0, 9, b'x'];
        assert!(read_frame(&mut truncated.as_slice()).is_err());
    }
}
