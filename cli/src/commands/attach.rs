//! `hull attach`: connect the terminal to a running container, as `docker attach` does. The
//! container's output from now on is streamed (stdout and stderr apart), our stdin is
//! forwarded when it was started with `-i` (with `-t`: the host terminal in raw mode, its
//! size forwarded), signals sent to hull are proxied to the container, and hull exits with
//! the container's status. The session runs over the supervisor's control socket
//! (`supervisor::attach` documents the frames).

use crate::args::Globals;
use crate::container::{Container, ContainerStore};
use crate::exit::with_code;
use crate::supervisor::attach::{self, EXIT, STDERR, STDIN, STDOUT};
use crate::supervisor::control::{self, Request};
use crate::supervisor::{signals, terminal};
use anyhow::{bail, Result};
use hull_protocol::ControlMessage;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Docker's `attach` ends with status 1 (not 125) for its own refusals ("No such container",
/// "cannot attach to a stopped container").
const DOCKER_ATTACH_ERROR: i32 = 1;
/// How long to wait for a just-started supervisor to listen on its socket.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

/// `hull attach` flags.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The container.
    pub container: String,
}

/// `hull attach`.
pub fn run(args: AttachArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    let container = running(&store, &args.container)?;
    let socket = store.paths(&container.id).control_socket();
    let session = connect(&store, &container, &socket)?;

    // Before any thread exists, so only the signal thread receives these.
    proxy_signals(socket.clone(), container.options.tty);
    let _raw = if container.options.tty {
        if let Some((rows, cols)) = terminal::size() {
            let _ = control::request(
                &socket,
                &Request::Control {
                    message: ControlMessage::Resize { rows, cols },
                },
            );
        }
        terminal::RawMode::enable()
    } else {
        None
    };
    if container.options.interactive {
        forward_stdin(session.try_clone()?);
    }
    if let Some(status) = stream_output(session) {
        return Ok(status);
    }
    // The supervisor went away without a status (it failed, or was killed): the store knows.
    match store.find_current(&container.id) {
        Ok(done) if !done.is_running() => Ok(done.state.exit_code),
        Ok(_) => {
            bail!("lost the connection to the container's supervisor; `hull ps -a` shows its state")
        }
        Err(_) => bail!("the container was removed before its status could be read"),
    }
}

/// The running container `reference`, or Docker's refusal.
fn running(store: &ContainerStore, reference: &str) -> Result<Container> {
    let container = store
        .find_current(reference)
        .map_err(|err| with_code(DOCKER_ATTACH_ERROR, format!("{err:#}")))?;
    if !container.is_running() {
        return Err(with_code(
            DOCKER_ATTACH_ERROR,
            "you cannot attach to a stopped container, start it first",
        ));
    }
    Ok(container)
}

/// Opens the attach session. The supervisor marks the container running just before it
/// listens: retry briefly while the container still runs.
fn connect(store: &ContainerStore, container: &Container, socket: &Path) -> Result<UnixStream> {
    let start = Instant::now();
    loop {
        match attach::connect(socket) {
            Ok(session) => return Ok(session),
            Err(err) => {
                if start.elapsed() > CONNECT_PATIENCE {
                    return Err(err);
                }
                std::thread::sleep(Duration::from_millis(50));
                running(store, &container.id)?;
            }
        }
    }
}

/// Proxies signals sent to hull to the container (Docker's --sig-proxy) and, with a tty,
/// window size changes.
fn proxy_signals(socket: PathBuf, tty: bool) {
    signals::proxy(true, tty, move |proxied| {
        let message = match proxied {
            signals::Proxied::Signal(signal) => ControlMessage::Signal { signal },
            signals::Proxied::Resize { rows, cols } => ControlMessage::Resize { rows, cols },
        };
        if let Err(err) = control::request(&socket, &Request::Control { message }) {
            tracing::debug!("signal not delivered: {err:#}");
        }
    });
}

/// Copies our stdin into the session until EOF. The container's stdin stays open after it,
/// as Docker's does for a container started with `-d -i`.
fn forward_stdin(mut session: UnixStream) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if attach::write_frame(&mut session, STDIN, &buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Writes the container's output to ours until the session ends; its status, if it came.
fn stream_output(mut session: UnixStream) -> Option<i32> {
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Ok(Some((kind, payload))) = attach::read_frame(&mut session) {
        // Our reader may be gone (`hull attach C | head`): keep following until the exit.
        match kind {
            STDOUT => {
                let _ = stdout.write_all(&payload).and_then(|()| stdout.flush());
            }
            STDERR => {
                let _ = stderr.write_all(&payload).and_then(|()| stderr.flush());
            }
            EXIT => {
                let bytes: [u8; 4] = payload.as_slice().try_into().ok()?;
                return Some(i32::from_be_bytes(bytes));
            }
            _ => {}
        }
    }
    None
}
