//! `hull diff CONTAINER`: what changed in the container's filesystem since its image, as
//! Docker's `A /path`, `C /path`, `D /path` lines (read inside its VM).

use crate::args::Globals;
use crate::exit::daemon_error;
use anyhow::Result;

/// `hull diff` flags.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The container.
    pub container: String,
}

/// Prints the changes, sorted by path.
pub fn run(args: DiffArgs, globals: &Globals) -> Result<i32> {
    let changes = super::containers(globals)?
        .diff(&args.container)
        .map_err(daemon_error)?;
    for change in changes {
        println!("{} {}", change.kind, change.path);
    }
    Ok(0)
}
