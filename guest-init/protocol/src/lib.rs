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

mod annotations;
mod archive;
mod config_disk;
mod control;
mod shares;
mod top;
mod warm;
pub use annotations::*;
pub use archive::*;
pub use config_disk::*;
pub use control::*;
pub use shares::*;
pub use top::*;
pub use warm::*;

/// I/O port the guest init writes [`BOOT_TIMER_VALUE`] to when userspace is reached.
/// hull-vmm logs the time since VMM start; other engines ignore the write.
pub const BOOT_TIMER_PORT: u16 = 0x3f4;
/// Value written to [`BOOT_TIMER_PORT`].
pub const BOOT_TIMER_VALUE: u8 = 123;

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

    fn base64_encode(bytes: &[u8]) -> String {
        let json = serde_json::to_string(&Base64(bytes.to_vec())).unwrap();
        json.trim_matches('"').to_string()
    }

    fn base64_decode(text: &str) -> Option<Vec<u8>> {
        serde_json::from_value::<Base64>(serde_json::Value::String(text.into()))
            .ok()
            .map(|b| b.0)
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
