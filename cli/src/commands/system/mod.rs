//! `hull system df|events|info|prune|service|warm`: Docker's `system` verbs, podman's
//! `system service` (the Docker Engine API on a socket) and hull's warm-start zygotes.

mod df;
mod prune;
mod service;
mod warm;

use df::DfArgs;
use prune::PruneArgs;
use service::ServiceArgs;
use warm::WarmArgs;

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
    /// List or remove the warm-start zygotes (booted VMs every container is restored from).
    Warm(WarmArgs),
}

/// Runs a `system` verb.
pub fn dispatch(command: SystemCommand, globals: &Globals) -> Result<i32> {
    match command {
        SystemCommand::Df(args) => df::df(args, globals),
        SystemCommand::Events(args) => super::events::run(args, globals),
        SystemCommand::Info(args) => super::info::run(args, globals).map(|()| 0),
        SystemCommand::Prune(args) => prune::prune(args, globals),
        SystemCommand::Service(args) => service::service(args, globals),
        SystemCommand::Warm(args) => warm::warm(args, globals),
    }
}
