//! `hull volume create|ls|inspect|rm|prune` (Docker's).

mod list;
mod manage;

pub use list::{InspectArgs, LsArgs};
pub use manage::{CreateArgs, PruneArgs, RmArgs};

use crate::args::Globals;
use anyhow::Result;

/// `hull volume` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes (anonymous ones, every one with -a).
    Prune(PruneArgs),
}

/// Runs a `volume` verb.
pub fn dispatch(command: VolumeCommand, globals: &Globals) -> Result<i32> {
    match command {
        VolumeCommand::Create(args) => manage::create(args, globals),
        VolumeCommand::Ls(args) => list::ls(args, globals),
        VolumeCommand::Inspect(args) => list::inspect(args, globals),
        VolumeCommand::Rm(args) => manage::rm(args, globals),
        VolumeCommand::Prune(args) => manage::prune(args, globals),
    }
}

/// The volumes under `--root`.
fn volumes(globals: &Globals) -> Result<hull_engine::Volumes> {
    Ok(hull_engine::Volumes::open(&globals.root)?)
}
