//! `hull attach`: connect the terminal to a running container, as `docker attach` does. The
//! container's output from now on is streamed (stdout and stderr apart), our stdin is
//! forwarded when it was started with `-i` (with `-t`: the host terminal in raw mode, its
//! size forwarded, and the detach keys leave it running), signals sent to hull are proxied
//! to the container, and hull exits with the container's status.

use crate::args::Globals;
use crate::detach_keys;
use crate::exit::daemon_error;
use crate::streams::{self, Attached, ClosedStdout, Ended};
use anyhow::Result;
use hull_engine::containers::{Containers, Session};
use hull_engine::Error;

/// `hull attach` flags.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container.
    #[arg(long, value_name = "KEYS", default_value = detach_keys::DEFAULT)]
    pub detach_keys: String,
    /// The container.
    pub container: String,
}

/// `hull attach`.
pub fn run(args: AttachArgs, globals: &Globals) -> Result<i32> {
    let keys = detach_keys::parse(&args.detach_keys)?;
    let containers = super::containers(globals)?;
    // Docker's `attach` ends with status 1 (not 125) for its refusals ("No such container",
    // "You cannot attach to a stopped container").
    let session = containers
        .attach(&args.container)
        .map_err(|err| match err {
            Error::NoSuchContainer(_)
            | Error::AmbiguousContainer(_)
            | Error::AttachStopped
            | Error::AttachPaused => daemon_error(err),
            other => other.into(),
        })?;
    follow(&containers, session, &keys)
}

/// The client of an attach session until it ends: the container's status, or 0 when the
/// user detached (the container runs on). Also `run -it` and `start -ai`.
pub fn follow(containers: &Containers, session: Session, detach_keys: &[u8]) -> Result<i32> {
    let container = session.container().clone();
    let how = Attached {
        tty: container.options.tty,
        stdin: container.options.interactive,
        detach_keys: detach_keys.to_vec(),
        send_size: true,
        closed_stdout: ClosedStdout::Ignore,
    };
    match streams::follow(session, how) {
        Ended::Exited(status) => Ok(status),
        Ended::Detached => Ok(0),
        // The supervisor went away without a status (it failed, or was killed): the store
        // knows.
        Ended::Lost => Ok(containers.status_after_attach(&container.id)?),
    }
}
