//! `hull network create|ls|inspect|rm|prune|connect|disconnect` (Docker's), and the hidden
//! `hull network-daemon NETWORK_ID`, the process that owns a network's namespace.

mod connect;
mod list;
mod manage;

use connect::{connect, disconnect};
pub use connect::{ConnectArgs, DisconnectArgs};
use list::{inspect, ls};
pub use list::{InspectArgs, LsArgs};
use manage::{create, prune, rm};
pub use manage::{CreateArgs, PruneArgs, RmArgs};

use crate::args::Globals;
use anyhow::Result;

/// `hull network` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a stopped container to a network (its VM gets it at its next start).
    Connect(ConnectArgs),
    /// Disconnect a stopped container from a network.
    Disconnect(DisconnectArgs),
}

/// `hull network-daemon` arguments.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The network's full id.
    pub id: String,
}

/// Runs a `network` verb.
pub fn dispatch(command: NetworkCommand, globals: &Globals) -> Result<i32> {
    match command {
        NetworkCommand::Create(args) => create(args, globals),
        NetworkCommand::Ls(args) => ls(args, globals),
        NetworkCommand::Inspect(args) => inspect(args, globals),
        NetworkCommand::Rm(args) => rm(args, globals),
        NetworkCommand::Prune(args) => prune(args, globals),
        NetworkCommand::Connect(args) => connect(args, globals),
        NetworkCommand::Disconnect(args) => disconnect(args, globals),
    }
}

/// `hull network-daemon ID`: owns network `ID`'s namespace until it is idle (see
/// `hull_network::daemon`). Must run before this process starts any thread.
pub fn daemon(args: DaemonArgs, globals: &Globals) -> Result<i32> {
    let options = hull_network::DaemonOptions::from_env();
    hull_network::daemon::run(&globals.root, &args.id, &options)?;
    Ok(0)
}
