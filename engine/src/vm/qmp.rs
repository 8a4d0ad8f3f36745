//! Pausing and resuming a VM's vCPUs through its VMM's QMP socket. QEMU serves QMP itself
//! (`-qmp unix:...`); hull-vmm serves the subset hull uses (`--control-socket`): the
//! greeting, `qmp_capabilities`, `stop`, `cont` and `query-status`. One client for both.
//!
//! QMP is JSON lines: the server greets (`{"QMP": {...}}`), the client sends
//! `{"execute": "qmp_capabilities"}` to leave negotiation mode, then each command gets one
//! `{"return": ...}` or `{"error": {"class", "desc"}}`; asynchronous `{"event": ...}` lines
//! (QEMU's `STOP`, `RESUME`) may come in between and are skipped.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file name of a VM's QMP socket in its socket directory.
pub const QMP_SOCKET: &str = "vmm.sock";

/// How long a QMP answer may take (`stop` waits for every vCPU to leave the guest).
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest QMP line read: the answers hull asks for are tiny; a broken peer must not make
/// hull buffer without bound.
const MAX_LINE: u64 = 64 * 1024;

/// Where the VMM of a VM with `socket_dir` serves QMP.
pub fn qmp_socket(socket_dir: &Path) -> PathBuf {
    socket_dir.join(QMP_SOCKET)
}

/// What went wrong talking QMP.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket could not be reached or read.
    #[error("cannot talk to the VMM's control socket {path}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The peer does not speak QMP (or closed the connection).
    #[error("the VMM's control socket answered {0:?}, not QMP")]
    Protocol(String),
    /// The VMM refused the command.
    #[error("the VMM refused {command}: {desc}")]
    Refused {
        /// The command.
        command: String,
        /// QMP's `desc`.
        desc: String,
    },
}

/// A QMP session, past capabilities negotiation.
pub struct QmpClient {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl QmpClient {
    /// Connects to `path`, reads the greeting and negotiates capabilities.
    pub fn connect(path: &Path) -> Result<Self, QmpError> {
        let io = |source| QmpError::Io {
            path: path.to_path_buf(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(io)?;
        stream.set_read_timeout(Some(QMP_TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(QMP_TIMEOUT)).map_err(io)?;
        let mut client = Self {
            path: path.to_path_buf(),
            reader: BufReader::new(stream.try_clone().map_err(io)?),
            writer: stream,
        };
        let greeting = client.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(greeting.to_string()));
        }
        client.execute("qmp_capabilities")?;
        Ok(client)
    }

    /// Runs `command` (no arguments); its `return` value.
    pub fn execute(&mut self, command: &str) -> Result<Value, QmpError> {
        self.execute_with(command, None)
    }

    /// Runs `command` with `arguments` (an object); its `return` value.
    pub fn execute_with(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QmpError> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.answer(command)
    }

    /// Hands `fd` to the VMM under `name` (`getfd`: the fd travels with the command as
    /// SCM_RIGHTS), for a later command that names it (`netdev_add tap,fd=NAME`).
    pub fn send_fd(&mut self, name: &str, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), QmpError> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsRawFd;
        let mut line = json!({ "execute": "getfd", "arguments": { "fdname": name } }).to_string();
        line.push('\n');
        let fds = [fd.as_raw_fd()];
        let sent = sendmsg::<()>(
            self.writer.as_raw_fd(),
            &[std::io::IoSlice::new(line.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|errno| QmpError::Io {
            path: self.path.clone(),
            source: errno.into(),
        })?;
        if sent != line.len() {
            // The line is far below a socket buffer: a short send means a broken peer.
            return Err(QmpError::Protocol(format!(
                "getfd sent {sent} of {} bytes",
                line.len()
            )));
        }
        self.answer("getfd").map(drop)
    }

    /// Reads messages until the answer to `command` (events are skipped).
    fn answer(&mut self, command: &str) -> Result<Value, QmpError> {
        loop {
            let message = self.read_message()?;
            if message.get("event").is_some() {
                continue;
            }
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                let desc = error
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given");
                return Err(QmpError::Refused {
                    command: command.to_string(),
                    desc: desc.to_string(),
                });
            }
            return Err(QmpError::Protocol(message.to_string()));
        }
    }

    /// Whether the VM's vCPUs run (`query-status`'s `running`).
    pub fn running(&mut self) -> Result<bool, QmpError> {
        let status = self.execute("query-status")?;
        status
            .get("running")
            .and_then(Value::as_bool)
            .ok_or_else(|| QmpError::Protocol(status.to_string()))
    }

    fn read_message(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        let read = (&mut self.reader)
            .take(MAX_LINE)
            .read_line(&mut line)
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?;
        if read == 0 || !line.ends_with('\n') {
            return Err(QmpError::Protocol(line));
        }
        serde_json::from_str(line.trim()).map_err(|_| QmpError::Protocol(line))
    }
}

/// Stops the vCPUs of the VM whose VMM serves QMP at `socket`.
pub fn pause(socket: &Path) -> Result<(), QmpError> {
    QmpClient::connect(socket)?.execute("stop").map(drop)
}

/// Resumes the vCPUs of the VM whose VMM serves QMP at `socket`.
pub fn resume(socket: &Path) -> Result<(), QmpError> {
    QmpClient::connect(socket)?.execute("cont").map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fake QMP server: greets, then answers each request line with the next of
    /// `answers` (several lines each, e.g. an event first), recording the requests.
    fn fake_server(
        dir: &Path,
        answers: Vec<&'static str>,
    ) -> (PathBuf, std::thread::JoinHandle<Vec<String>>) {
        let path = dir.join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            writer
                .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n")
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut requests = Vec::new();
            for answer in answers {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                requests.push(line.trim().to_string());
                writer.write_all(answer.as_bytes()).unwrap();
            }
            requests
        });
        (path, handle)
    }

    #[test]
    fn negotiates_then_runs_commands_skipping_events() {
        let dir = tempfile::tempdir().unwrap();
        let (path, server) = fake_server(
            dir.path(),
            vec![
                "{\"return\": {}}\n",
                "{\"timestamp\": {}, \"event\": \"STOP\"}\n{\"return\": {}}\n",
                "{\"return\": {\"status\": \"paused\", \"running\": false}}\n",
            ],
        );
        let mut client = QmpClient::connect(&path).unwrap();
        assert_eq!(client.execute("stop").unwrap(), json!({}));
        assert!(!client.running().unwrap());
        drop(client);
        assert_eq!(
            server.join().unwrap(),
            [
                r#"{"execute":"qmp_capabilities"}"#,
                r#"{"execute":"stop"}"#,
                r#"{"execute":"query-status"}"#
            ]
        );
    }

    /// `getfd`: the fd arrives with the command line, as QEMU reads it (SCM_RIGHTS).
    #[test]
    fn an_fd_travels_with_getfd() {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"{\"QMP\": {}}\n").unwrap();
            let mut received = Vec::new();
            for _ in 0..2 {
                let mut buffer = [0u8; 512];
                let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
                let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
                let message = recvmsg::<()>(
                    stream.as_raw_fd(),
                    &mut iov,
                    Some(&mut space),
                    MsgFlags::empty(),
                )
                .unwrap();
                let bytes = message.bytes;
                for cmsg in message.cmsgs().unwrap() {
                    if let ControlMessageOwned::ScmRights(fds) = cmsg {
                        // SAFETY: the fd was just received and is owned by nobody else.
                        received.extend(
                            fds.into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                let line = String::from_utf8_lossy(&buffer[..bytes]).into_owned();
                stream.write_all(b"{\"return\": {}}\n").unwrap();
                if line.contains("getfd") {
                    assert!(line.contains(r#""fdname":"tap0""#), "{line}");
                }
            }
            received
        });
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let mut client = QmpClient::connect(&path).unwrap();
        client.send_fd("tap0", write_end.as_fd()).unwrap();
        drop(write_end);
        let mut received = server.join().unwrap();
        assert_eq!(received.len(), 1);
        let fd = received.remove(0);
        std::fs::File::from(fd).write_all(b"via qmp").unwrap();
        let mut got = String::new();
        std::fs::File::from(read_end)
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "via qmp");
    }

    #[test]
    fn refusals_carry_the_vmms_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _server) = fake_server(
            dir.path(),
            vec![
                "{\"return\": {}}\n",
                "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no vCPUs\"}}\n",
            ],
        );
        let err = pause(&path).unwrap_err();
        assert_eq!(err.to_string(), "the VMM refused stop: no vCPUs");
    }

    #[test]
    fn a_peer_that_is_not_qmp_is_an_error_not_a_hang_or_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"hello there\n").unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        });
        assert!(matches!(
            QmpClient::connect(&path),
            Err(QmpError::Protocol(_))
        ));
        server.join().unwrap();
        assert!(matches!(
            resume(&dir.path().join("absent.sock")),
            Err(QmpError::Io { .. })
        ));
    }

    #[test]
    fn an_endless_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..4 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        assert!(matches!(
            QmpClient::connect(&path),
            Err(QmpError::Protocol(_))
        ));
    }
}
