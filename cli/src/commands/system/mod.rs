//! `hull system df|events|info|prune|service`: Docker's `system` verbs, and podman's
//! `system service` (the Docker Engine API on a socket).

mod df;
mod prune;
mod service;

use df::DfArgs;
use prune::PruneArgs;
use service::ServiceArgs;

use crate::args::Globals;
use anyhow::Result;

/// `hull system` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum SystemCommand {
    /// Show hull disk usage.
    Df(DfArgs),
    /// Get real time events from the server.
    Events(super::events::EventsArgs),
    /// Display system-wide information.
    Info(super::info::InfoArgs),
    /// Remove stopped containers and dangling images (every unused image with -a).
    Prune(PruneArgs),
    /// Serve the Docker Engine API, so Docker's clients drive hull (DOCKER_HOST).
    Service(ServiceArgs),
}

/// Runs a `system` verb.
pub fn dispatch(command: SystemCommand, globals: &Globals) -> Result<i32> {
    match command {
        SystemCommand::Df(args) => df::df(args, globals),
        SystemCommand::Events(args) => super::events::run(args, globals),
        SystemCommand::Info(args) => super::info::run(args, globals).map(|()| 0),
        SystemCommand::Prune(args) => prune::prune(args, globals),
        SystemCommand::Service(args) => service::service(args, globals),
    }
}
