//! `hull network connect|disconnect`: a stopped container's networks, which its VM gets
//! at its next start.

use crate::args::Globals;
use crate::exit::daemon_error;
use anyhow::Result;
use hull_engine::containers::ConnectRequest;
use std::net::Ipv4Addr;

/// `network connect` flags.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Add a network-scoped alias for the container.
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g. 172.30.100.104).
    #[arg(long)]
    pub ip: Option<Ipv4Addr>,
    /// The network (name, id or id prefix).
    pub network: String,
    /// The container (name, id or id prefix).
    pub container: String,
}

/// `network disconnect` flags.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    pub force: bool,
    /// The network (name, id or id prefix).
    pub network: String,
    /// The container (name, id or id prefix).
    pub container: String,
}

/// `network connect`: silent on success, as Docker.
pub(super) fn connect(args: ConnectArgs, globals: &Globals) -> Result<i32> {
    let request = ConnectRequest {
        aliases: args.alias,
        ip: args.ip,
    };
    super::super::containers(globals)?
        .connect_network(&args.network, &args.container, &request)
        .map_err(daemon_error)?;
    Ok(0)
}

/// `network disconnect`: silent on success, as Docker (`-f` changes nothing: a stopped
/// container has no endpoint to tear down).
pub(super) fn disconnect(args: DisconnectArgs, globals: &Globals) -> Result<i32> {
    let _ = args.force;
    super::super::containers(globals)?
        .disconnect_network(&args.network, &args.container)
        .map_err(daemon_error)?;
    Ok(0)
}
