//! `hull exec`: run an extra process in a running container, as `docker exec` does: same
//! namespaces, root filesystem and cgroup as the container's process, its environment plus
//! `-e`, stdout and stderr apart (one stream with `-t`, which gives the process a terminal of
//! the host terminal's size, in raw mode), stdin relayed with `-i` (with its EOF), and the
//! process's status as hull's (126/127 when it cannot be executed / is not found, 125 for
//! hull's own errors such as a container that is not running). Signals sent to `hull exec`
//! are passed on to the process, and when our stdout's reader goes away the process gets
//! SIGPIPE, as in a local pipeline. The session runs over the supervisor's control socket
//! (`supervisor::exec` documents the frames); the guest side is hull-init's `execs`.

use super::run::{expand_env, read_env_file};
use crate::args::Globals;
use crate::container::ContainerStore;
use crate::supervisor::attach::{read_frame, write_frame};
use crate::supervisor::control::Request;
use crate::supervisor::exec::{EXIT, RESIZE, SIGNAL, STARTED, STDERR, STDIN, STDIN_EOF, STDOUT};
use crate::supervisor::{signals, terminal};
use anyhow::{bail, Context, Result};
use hull_protocol::ExecRequest;
use nix::sys::signal::Signal;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long to wait for a just-started supervisor to listen on its socket.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

/// `hull exec` flags (Docker's names).
#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Keep STDIN open: relay ours to the process, with its end.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Detached mode: start the command, print nothing, do not wait for it.
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables (KEY=VALUE, or KEY to take the host's value).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines, # comments).
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container (absolute).
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]), looked up in the container.
    #[arg(short, long)]
    pub user: Option<String>,
    /// The running container (name, id or id prefix).
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `hull exec`.
pub fn run(args: ExecArgs, globals: &Globals) -> Result<i32> {
    use std::io::IsTerminal;
    if args.tty && args.interactive && !args.detach && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY: drop -t, or run hull from a terminal");
    }
    let store = super::containers(globals)?;
    let container = store.find_current(&args.container)?;
    if !container.is_running() {
        bail!(
            "container {name} is not running: start it first (hull start {name})",
            name = container.name
        );
    }
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_env_file(file)?);
    }
    env.extend(args.env.iter().filter_map(|e| expand_env(e)));
    let request = ExecRequest {
        args: args.command.clone(),
        env,
        cwd: args.workdir.clone(),
        user: args.user.clone(),
        tty: args.tty,
        stdin: args.interactive && !args.detach,
        console_size: if args.tty { terminal::size() } else { None },
    };
    let socket = store.paths(&container.id).control_socket();
    let session = connect(&store, &container.id, &socket, &request)?;
    if args.detach {
        return wait_started(session);
    }
    let writer = Arc::new(Mutex::new(session.try_clone()?));
    // Before any thread exists, so only the signal thread receives these.
    proxy_signals(Arc::clone(&writer), args.tty);
    let _raw = if args.tty {
        terminal::RawMode::enable()
    } else {
        None
    };
    if request.stdin {
        forward_stdin(Arc::clone(&writer));
    }
    if let Some(status) = stream_output(session, &writer) {
        return Ok(status);
    }
    match store.find_current(&container.id) {
        Ok(now) if !now.is_running() => {
            bail!("the container stopped while the command ran (hull ps -a shows how it ended)")
        }
        _ => bail!("lost the connection to the container's supervisor"),
    }
}

/// Opens the exec session. The supervisor marks the container running just before it
/// listens: retry briefly while the container still runs.
fn connect(
    store: &ContainerStore,
    id: &str,
    socket: &Path,
    request: &ExecRequest,
) -> Result<UnixStream> {
    let mut line = serde_json::to_string(&Request::Exec {
        exec: request.clone(),
    })?;
    line.push('\n');
    let start = Instant::now();
    loop {
        match UnixStream::connect(socket) {
            Ok(mut session) => {
                session.write_all(line.as_bytes())?;
                return Ok(session);
            }
            Err(err) => {
                let running = store.find_current(id).is_ok_and(|c| c.is_running());
                if !running || start.elapsed() > CONNECT_PATIENCE {
                    return Err(err).with_context(|| {
                        format!(
                            "cannot reach the container's supervisor at {}",
                            socket.display()
                        )
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// `-d`: returns once the process runs (0), or with its status if it could not start (the
/// reason was sent as stderr output and is printed).
fn wait_started(mut session: UnixStream) -> Result<i32> {
    while let Some((kind, payload)) = read_frame(&mut session)? {
        match kind {
            STARTED => return Ok(0),
            STDERR => {
                let _ = std::io::stderr().write_all(&payload);
            }
            EXIT => return Ok(exit_status(&payload)),
            _ => {}
        }
    }
    bail!("lost the connection to the container's supervisor before the command started")
}

fn exit_status(payload: &[u8]) -> i32 {
    payload
        .try_into()
        .map_or(crate::exit::HULL_ERROR, i32::from_be_bytes)
}

/// Sends one frame on the shared session writer (the stdin and signal threads both write).
fn send(writer: &Mutex<UnixStream>, kind: u8, payload: &[u8]) -> bool {
    let mut session = writer.lock().unwrap_or_else(|e| e.into_inner());
    write_frame(&mut *session, kind, payload).is_ok()
}

/// Passes signals sent to hull on to the process and, with a tty, window size changes.
fn proxy_signals(writer: Arc<Mutex<UnixStream>>, tty: bool) {
    signals::proxy(true, tty, move |proxied| match proxied {
        signals::Proxied::Resize { rows, cols } => {
            let mut size = rows.to_be_bytes().to_vec();
            size.extend_from_slice(&cols.to_be_bytes());
            send(&writer, RESIZE, &size);
        }
        signals::Proxied::Signal(signal) => {
            send(&writer, SIGNAL, &signal.to_be_bytes());
        }
    });
}

/// Copies our stdin into the session, then its end.
fn forward_stdin(writer: Arc<Mutex<UnixStream>>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !send(&writer, STDIN, &buf[..n]) {
                        return;
                    }
                }
            }
        }
        send(&writer, STDIN_EOF, &[]);
    });
}

/// Writes the process's output to ours until the session ends; its status, if it came.
fn stream_output(mut session: UnixStream, writer: &Mutex<UnixStream>) -> Option<i32> {
    let mut stdout = Some(std::io::stdout());
    let mut stderr = std::io::stderr();
    while let Ok(Some((kind, payload))) = read_frame(&mut session) {
        match kind {
            STDOUT => {
                let Some(out) = stdout.as_mut() else { continue };
                if out.write_all(&payload).and_then(|()| out.flush()).is_err() {
                    // Our reader is gone (`hull exec C cmd | head`): the process gets the
                    // SIGPIPE it would get writing to that pipe itself, as in a local
                    // pipeline; its status follows.
                    stdout = None;
                    send(writer, SIGNAL, &(Signal::SIGPIPE as i32).to_be_bytes());
                }
            }
            STDERR => {
                let _ = stderr.write_all(&payload).and_then(|()| stderr.flush());
            }
            EXIT => return Some(exit_status(&payload)),
            _ => {}
        }
    }
    None
}
