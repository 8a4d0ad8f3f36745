//! `hull network ls` and `hull network inspect`.

use crate::args::Globals;
use crate::exit::daemon_error;
use crate::format;
use crate::template::{self, OutputFormat};
use anyhow::Result;
use hull_engine::networks::{Network, NetworkFilter};

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

/// `network ls`.
pub(super) fn ls(args: LsArgs, globals: &Globals) -> Result<i32> {
    let output = OutputFormat::parse(args.format.as_deref())?;
    let filter = NetworkFilter::parse(&args.filters).map_err(daemon_error)?;
    let networks = super::super::networks(globals)?.list(&filter)?;
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
pub(super) fn inspect(args: InspectArgs, globals: &Globals) -> Result<i32> {
    // A bad template fails before any lookup.
    template::parse_document_format(args.format.as_deref())?;
    let networks = super::super::networks(globals)?;
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
    template::print_documents(args.format.as_deref(), &found)?;
    Ok(status)
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
