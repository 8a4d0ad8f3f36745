//! `hull attach`: follow a running container's output until it exits, then exit with its
//! status (unknown, so 0, for a `--rm` container removed meanwhile). Input is not forwarded
//! yet: the supervisor's socket carries control messages only.

use crate::args::Globals;
use anyhow::{bail, Result};

/// `hull attach` flags.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The container.
    pub container: String,
}

/// `hull attach`.
pub fn run(args: AttachArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    let container = store.find_current(&args.container)?;
    if !container.is_running() {
        bail!("you cannot attach to a stopped container, start it first");
    }
    super::logs::run(
        super::logs::LogsArgs {
            follow: true,
            tail: "0".into(),
            container: container.id.clone(),
        },
        globals,
    )?;
    // A --rm container may already be gone with its state: its status is then unknown.
    Ok(store
        .find_current(&container.id)
        .map_or(0, |done| done.state.exit_code))
}
