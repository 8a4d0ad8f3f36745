//! `hull attach`: connect the terminal to a running container, as `docker attach` does. The
//! container's output from now on is streamed (stdout and stderr apart), our stdin is
//! forwarded when it was started with `-i` (with `-t`: the host terminal in raw mode, its
//! size forwarded), signals sent to hull are proxied to the container, and hull exits with
//! the container's status.

use crate::args::Globals;
use crate::exit::with_code;
use crate::streams::{self, ClosedStdout};
use anyhow::Result;
use hull_engine::supervisor::terminal;
use hull_engine::Error;

/// Docker's `attach` ends with status 1 (not 125) for its own refusals ("No such container",
/// "cannot attach to a stopped container").
const DOCKER_ATTACH_ERROR: i32 = 1;

/// `hull attach` flags.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The container.
    pub container: String,
}

/// `hull attach`.
pub fn run(args: AttachArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    let session = containers
        .attach(&args.container)
        .map_err(|err| match err {
            Error::NoSuchContainer(_) | Error::AmbiguousContainer(_) | Error::AttachStopped => {
                with_code(DOCKER_ATTACH_ERROR, err.to_string())
            }
            other => other.into(),
        })?;
    let container = session.container().clone();
    let input = session.input();
    // Before any thread exists, so only the signal thread receives these.
    streams::proxy_signals(input.clone(), container.options.tty);
    let _raw = if container.options.tty {
        if let Some((rows, cols)) = terminal::size() {
            input.resize(rows, cols);
        }
        terminal::RawMode::enable()
    } else {
        None
    };
    if container.options.interactive {
        streams::forward_stdin(input);
    }
    if let Some(status) = streams::stream_output(session, ClosedStdout::Ignore) {
        return Ok(status);
    }
    // The supervisor went away without a status (it failed, or was killed): the store knows.
    Ok(containers.status_after_attach(&container.id)?)
}
