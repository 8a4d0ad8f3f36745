//! `hull network create|rm|prune`.

use crate::args::Globals;
use crate::exit::daemon_error;
use anyhow::Result;
use hull_engine::networks::CreateNetwork;
use std::net::Ipv4Addr;

/// `network create` flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Driver to manage the network (only `bridge`).
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format (IPv4), e.g. 10.1.0.0/16.
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 gateway for the subnet.
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// Restrict external access to the network.
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network (KEY=VALUE).
    #[arg(long)]
    pub label: Vec<String>,
    /// The network's name.
    pub name: String,
}

/// `network rm` flags.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// Networks (name, id or id prefix).
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `network prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `network create`: prints the new network's id.
pub(super) fn create(args: CreateArgs, globals: &Globals) -> Result<i32> {
    let request = CreateNetwork {
        name: args.name,
        driver: Some(args.driver),
        subnet: args.subnet,
        gateway: args.gateway,
        internal: args.internal,
        labels: args.label.iter().map(|l| crate::args::label(l)).collect(),
    };
    let network = super::super::networks(globals)?
        .create(&request)
        .map_err(daemon_error)?;
    println!("{}", network.id);
    Ok(0)
}

/// `network rm`: prints each removed network as given.
pub(super) fn rm(args: RmArgs, globals: &Globals) -> Result<i32> {
    let networks = super::super::networks(globals)?;
    super::super::for_each(&args.networks, |reference| {
        match networks.remove(reference) {
            Ok(_) => println!("{reference}"),
            Err(hull_engine::Error::Network(hull_network::Error::NotFound(_))) if args.force => {}
            Err(err) => return Err(err.into()),
        }
        Ok(())
    })
}

/// `network prune`: asks first unless `-f`.
pub(super) fn prune(args: PruneArgs, globals: &Globals) -> Result<i32> {
    if !args.force
        && !crate::prompt::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\n\
             Are you sure you want to continue? [y/N] ",
        )?
    {
        return Ok(0);
    }
    let removed = super::super::networks(globals)?
        .prune()
        .map_err(daemon_error)?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for name in &removed {
            println!("{name}");
        }
        println!();
    }
    Ok(0)
}
