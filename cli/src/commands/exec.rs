//! `hull exec`: run an extra process in a running container, as `docker exec` does: same
//! namespaces, root filesystem and cgroup as the container's process, its environment plus
//! `-e`, stdout and stderr apart (one stream with `-t`, which gives the process a terminal of
//! the host terminal's size, in raw mode), stdin relayed with `-i` (with its EOF), and the
//! process's status as hull's (126/127 when it cannot be executed / is not found, 1 when the
//! container is unknown or not running, as Docker's CLI, 125 for hull's own errors). Signals sent to `hull exec`
//! are passed on to the process, and when our stdout's reader goes away the process gets
//! SIGPIPE, as in a local pipeline. The guest side is hull-init's `execs`.

use crate::args::Globals;
use crate::detach_keys;
use crate::streams::{self, Attached, ClosedStdout, Ended};
use anyhow::{bail, Result};
use hull_engine::containers::{Session, SessionEvent};
use hull_engine::supervisor::terminal;
use hull_engine::Error;
use hull_protocol::ExecRequest;
use std::io::Write;
use std::path::PathBuf;

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
    /// Override the key sequence for detaching a container.
    #[arg(long, value_name = "KEYS", default_value = detach_keys::DEFAULT)]
    pub detach_keys: String,
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
    let detach_keys = detach_keys::parse(&args.detach_keys)?;
    let containers = super::containers(globals)?;
    let request = ExecRequest {
        args: args.command.clone(),
        env: crate::env::collect(&args.env_file, &args.env)?,
        cwd: args.workdir.clone(),
        user: args.user.clone(),
        tty: args.tty,
        stdin: args.interactive && !args.detach,
        console_size: if args.tty { terminal::size() } else { None },
    };
    // Docker's CLI exits 1 when the daemon refuses the exec (podman: 125).
    let session = containers
        .exec(&args.container, &request)
        .map_err(|err| match err {
            Error::NoSuchContainer(_)
            | Error::AmbiguousContainer(_)
            | Error::ExecNotRunning(_)
            | Error::Paused(..) => crate::exit::daemon_error(err),
            other => other.into(),
        })?;
    if args.detach {
        return wait_started(session);
    }
    let id = session.container().id.clone();
    let how = Attached {
        tty: args.tty,
        stdin: request.stdin,
        detach_keys,
        send_size: false,
        closed_stdout: ClosedStdout::SendSigpipe,
    };
    match streams::follow(session, how) {
        Ended::Exited(status) => Ok(status),
        Ended::Detached => Ok(0),
        Ended::Lost => Err(containers.exec_lost(&id).into()),
    }
}

/// `-d`: returns once the process runs (0), or with its status if it could not start (the
/// reason was sent as stderr output and is printed).
fn wait_started(mut session: Session) -> Result<i32> {
    while let Some(event) = session.next_event() {
        match event {
            SessionEvent::Started => return Ok(0),
            SessionEvent::Stderr(payload) => {
                let _ = std::io::stderr().write_all(&payload);
            }
            SessionEvent::Exit(status) => return Ok(status),
            SessionEvent::Stdout(_) => {}
        }
    }
    bail!("lost the connection to the container's supervisor before the command started")
}
