//! `hull network create|ls|inspect|rm|prune|connect|disconnect` (Docker's), and the hidden
//! `hull network-daemon NETWORK_ID`, the process that owns a network's namespace.

use crate::args::Globals;
use crate::exit::daemon_error;
use crate::format;
use crate::template::{self, OutputFormat};
use anyhow::Result;
use hull_engine::containers::ConnectRequest;
use hull_engine::networks::{CreateNetwork, Network, NetworkFilter};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

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

/// `network ls` flags.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only display network IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate the output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format the output: `table`, `json` or a Go template (`{{.ID}}`, `{{.Name}}`,
    /// `{{.Driver}}`, `{{.Scope}}`, `{{.IPv6}}`, `{{.Internal}}`, `{{.Labels}}`,
    /// `{{.CreatedAt}}`).
    #[arg(long)]
    pub format: Option<String>,
    /// Provide filter values (e.g. `name=web`, `driver=bridge`, `type=custom`).
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
}

/// `network inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format the output using a Go template, or `json`.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Networks (name, id or id prefix).
    #[arg(required = true)]
    pub networks: Vec<String>,
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

/// `network create`: prints the new network's id.
fn create(args: CreateArgs, globals: &Globals) -> Result<i32> {
    let labels: BTreeMap<String, String> = args
        .label
        .iter()
        .map(|label| match label.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (label.clone(), String::new()),
        })
        .collect();
    let request = CreateNetwork {
        name: args.name,
        driver: Some(args.driver),
        subnet: args.subnet,
        gateway: args.gateway,
        internal: args.internal,
        labels,
    };
    let network = super::networks(globals)?
        .create(&request)
        .map_err(daemon_error)?;
    println!("{}", network.id);
    Ok(0)
}

/// Column titles of `network ls --format 'table ...'`, by field.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// `network ls`.
fn ls(args: LsArgs, globals: &Globals) -> Result<i32> {
    let output = OutputFormat::parse(args.format.as_deref())?;
    let filter = NetworkFilter::parse(&args.filters).map_err(daemon_error)?;
    let networks = super::networks(globals)?.list(&filter)?;
    let id = |network: &Network| -> String {
        if args.no_trunc {
            network.id.clone()
        } else {
            network.short_id().to_string()
        }
    };
    if args.quiet {
        for network in &networks {
            println!("{}", id(network));
        }
        return Ok(0);
    }
    let fields: Vec<serde_json::Value> = networks
        .iter()
        .map(|network| {
            serde_json::json!({
                "ID": id(network),
                "Name": network.name,
                "Driver": network.driver,
                "Scope": "local",
                "IPv6": "false",
                "Internal": network.internal.to_string(),
                "Labels": network
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                "CreatedAt": network.created,
            })
        })
        .collect();
    let default_table = || {
        let rows: Vec<Vec<String>> = networks
            .iter()
            .map(|network| {
                vec![
                    id(network),
                    network.name.clone(),
                    network.driver.clone(),
                    "local".to_string(),
                ]
            })
            .collect();
        format::table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows)
    };
    print!("{}", output.render(&fields, HEADERS, default_table)?);
    Ok(0)
}

/// `network inspect`: a JSON array of the networks found (as Docker, `[]` and an error per
/// unknown one, status 1), or the template applied to each.
fn inspect(args: InspectArgs, globals: &Globals) -> Result<i32> {
    let template = template::parse_document_format(args.format.as_deref())?;
    let networks = super::networks(globals)?;
    let mut found = Vec::new();
    let mut status = 0;
    for reference in &args.networks {
        match networks.inspect(reference) {
            Ok(document) => found.push(document),
            Err(hull_engine::Error::Network(hull_network::Error::NotFound(_))) => {
                eprintln!("Error: No such network: {reference}");
                status = 1;
            }
            Err(err) => {
                eprintln!("Error response from hull: {err}");
                status = 1;
            }
        }
    }
    match &template {
        Some(template) => {
            for document in &found {
                let value = serde_json::to_value(document)?;
                println!("{}", template::execute(template, &value)?);
            }
        }
        // The structs themselves keep Docker's field order.
        None => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    Ok(status)
}

/// `network rm`: prints each removed network as given.
fn rm(args: RmArgs, globals: &Globals) -> Result<i32> {
    let networks = super::networks(globals)?;
    super::for_each(&args.networks, |reference| {
        match networks.remove(reference) {
            Ok(_) => println!("{reference}"),
            Err(hull_engine::Error::Network(hull_network::Error::NotFound(_))) if args.force => {}
            Err(err) => return Err(err.into()),
        }
        Ok(())
    })
}

/// `network prune`: asks first unless `-f`.
fn prune(args: PruneArgs, globals: &Globals) -> Result<i32> {
    if !args.force
        && !super::system::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\n\
             Are you sure you want to continue? [y/N] ",
        )?
    {
        return Ok(0);
    }
    let removed = super::networks(globals)?.prune().map_err(daemon_error)?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for name in &removed {
            println!("{name}");
        }
        println!();
    }
    Ok(0)
}

/// `network connect`: silent on success, as Docker.
fn connect(args: ConnectArgs, globals: &Globals) -> Result<i32> {
    let request = ConnectRequest {
        aliases: args.alias,
        ip: args.ip,
    };
    super::containers(globals)?
        .connect_network(&args.network, &args.container, &request)
        .map_err(daemon_error)?;
    Ok(0)
}

/// `network disconnect`: silent on success, as Docker (`-f` changes nothing: a stopped
/// container has no endpoint to tear down).
fn disconnect(args: DisconnectArgs, globals: &Globals) -> Result<i32> {
    let _ = args.force;
    super::containers(globals)?
        .disconnect_network(&args.network, &args.container)
        .map_err(daemon_error)?;
    Ok(0)
}

/// `hull network-daemon ID`: owns network `ID`'s namespace until it is idle (see
/// `hull_network::daemon`). Must run before this process starts any thread.
pub fn daemon(args: DaemonArgs, globals: &Globals) -> Result<i32> {
    let options = hull_network::DaemonOptions::from_env();
    hull_network::daemon::run(&globals.root, &args.id, &options)?;
    Ok(0)
}
