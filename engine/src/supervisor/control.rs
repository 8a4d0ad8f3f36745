//! Control of a running container. Inside the supervisor, [`ControlChannel`] writes
//! [`ControlMessage`]s to the guest's control console (or, on engines without one, kills the
//! VMM for a signal). Other hull processes (`stop`, `kill`) reach the supervisor through a
//! unix socket in the container's directory that carries the same JSON lines; an `attach`
//! request turns its connection into an attach session (see [`super::attach`]), an `exec`
//! request into an exec session (see [`super::exec`]).

use super::attach::Attachments;
use super::exec::ExecSessions;
use super::top::TopRequests;
use super::wire::Request;
use anyhow::{Context, Result};
use hull_protocol::ControlMessage;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The supervisor's way to the guest's control console.
#[derive(Clone)]
pub struct ControlChannel {
    writer: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    vmm_pid: i32,
}

impl ControlChannel {
    /// A channel over `writer` (None: the engine has no control port).
    pub fn new(writer: Option<Box<dyn Write + Send>>, vmm_pid: u32) -> Self {
        Self {
            writer: Arc::new(Mutex::new(writer)),
            vmm_pid: i32::try_from(vmm_pid).unwrap_or(0),
        }
    }

    /// Delivers `message`. Without a control port a signal can only end the whole VM.
    pub fn send(&self, message: &ControlMessage) {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(writer) => {
                if writer.write_all(message.to_line().as_bytes()).is_err()
                    || writer.flush().is_err()
                {
                    tracing::debug!("control console closed; dropped {message:?}");
                }
            }
            None => {
                if let ControlMessage::Signal { .. } = message {
                    tracing::debug!("engine has no control port: killing the VMM");
                    self.kill_vmm();
                }
            }
        }
    }

    /// SIGKILLs the VMM (the last resort of `stop`, and `kill` on single-port engines).
    pub fn kill_vmm(&self) {
        if self.vmm_pid > 0 {
            let _ = signal::kill(Pid::from_raw(self.vmm_pid), Signal::SIGKILL);
        }
    }
}

/// Serves `socket` on a thread: each line is a [`Request`]; attach sessions join
/// `attachments`, exec sessions `execs`, `top` requests go to `tops`.
pub fn serve(
    socket: &Path,
    channel: ControlChannel,
    attachments: Attachments,
    execs: ExecSessions,
    tops: TopRequests,
) -> Result<()> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let channel = channel.clone();
            let attachments = attachments.clone();
            let execs = execs.clone();
            let tops = tops.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    match serde_json::from_str::<Request>(line.trim_end()) {
                        Ok(Request::Control { message }) => channel.send(&message),
                        Ok(Request::KillVm) => channel.kill_vmm(),
                        Ok(Request::Attach) => {
                            // The reader keeps any frames that came with the request line.
                            attachments.add(reader);
                            break;
                        }
                        Ok(Request::Exec { exec }) => {
                            execs.add(reader, exec);
                            break;
                        }
                        Ok(Request::Top) => {
                            tops.serve(reader.get_ref());
                            break;
                        }
                        Ok(Request::Archive { archive }) => {
                            execs.add_archive(reader, archive);
                            break;
                        }
                        Err(err) => tracing::warn!("bad control request {line:?}: {err}"),
                    }
                }
            });
        }
    });
    Ok(())
}

/// Longest reply line [`request_reply`] reads.
const MAX_REPLY: u64 = 4 << 20;

/// Sends `request` to the supervisor listening on `socket` and reads its one-line reply
/// (waiting at most `timeout`).
pub fn request_reply(
    socket: &Path,
    request: &Request,
    timeout: std::time::Duration,
) -> Result<String> {
    use std::io::Read;
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot reach the container's supervisor at {}",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream.take(MAX_REPLY))
        .read_line(&mut reply)
        .context("the container's supervisor did not answer")?;
    anyhow::ensure!(
        reply.ends_with('\n'),
        "the container's supervisor closed the connection without an answer"
    );
    Ok(reply)
}

/// Sends `request` to the supervisor listening on `socket`.
pub fn request(socket: &Path, request: &Request) -> Result<()> {
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot reach the container's supervisor at {}",
            socket.display()
        )
    })?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    Ok(())
}
