//! `hull system df|events|info|prune|service`: Docker's `system` verbs, and podman's
//! `system service` (the Docker Engine API on a socket).

use crate::args::Globals;
use crate::format::human_size;
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::system::disk_usage::{self, UsageRow};
use serde_json::json;

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

/// `hull system service` flags.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Where to listen: unix:///PATH or tcp://127.0.0.1:PORT. Whoever can reach it is
    /// root on this host.
    #[arg(short = 'H', long, default_value = hull_api::listen::DEFAULT_HOST)]
    pub host: hull_api::listen::Endpoint,
    /// End after this many seconds without a client (0: never).
    #[arg(short, long, default_value_t = 0)]
    pub time: u64,
    /// Use TLS and verify the client's certificate (needed off loopback).
    #[arg(long, requires_all = ["tlscacert", "tlscert", "tlskey"])]
    pub tlsverify: bool,
    /// Trust client certificates signed only by this CA.
    #[arg(long, value_name = "FILE", requires = "tlsverify")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to the service's TLS certificate file.
    #[arg(long, value_name = "FILE", requires = "tlsverify")]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to the service's TLS key file.
    #[arg(long, value_name = "FILE", requires = "tlsverify")]
    pub tlskey: Option<std::path::PathBuf>,
}

/// `hull system prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `hull system df` flags.
#[derive(Debug, clap::Args)]
pub struct DfArgs {
    /// Format the output with a Go template (`{{.Type}}`, `{{.TotalCount}}`, `{{.Active}}`,
    /// `{{.Size}}`, `{{.Reclaimable}}`), `table` or `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// Runs a `system` verb.
pub fn dispatch(command: SystemCommand, globals: &Globals) -> Result<i32> {
    match command {
        SystemCommand::Df(args) => df(args, globals),
        SystemCommand::Events(args) => super::events::run(args, globals),
        SystemCommand::Info(args) => super::info::run(args, globals).map(|()| 0),
        SystemCommand::Prune(args) => prune(args, globals),
        SystemCommand::Service(args) => service(args, globals),
    }
}

/// `hull system service`: serves until interrupted (or idle for `--time`).
fn service(args: ServiceArgs, globals: &Globals) -> Result<i32> {
    let options = hull_api::ServiceOptions {
        endpoint: args.host,
        idle_timeout: (args.time > 0).then(|| std::time::Duration::from_secs(args.time)),
        engine: globals.vmm,
        network_daemon: super::network_daemon(globals)?,
        tls: match (args.tlscacert, args.tlscert, args.tlskey) {
            (Some(ca), Some(cert), Some(key)) if args.tlsverify => {
                Some(hull_api::tls::TlsFiles { ca, cert, key })
            }
            _ => None,
        },
    };
    hull_api::serve(super::containers(globals)?, options)?;
    Ok(0)
}

/// Docker's `system prune`: asks first unless `-f`, then prunes containers and images.
fn prune(args: PruneArgs, globals: &Globals) -> Result<i32> {
    let images_line = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !args.force
        && !confirm(&format!(
            "WARNING! This will remove:\n  - all stopped containers\n  - {images_line}\n\n\
             Are you sure you want to continue? [y/N] "
        ))?
    {
        return Ok(0);
    }
    let containers = super::containers(globals)?.prune()?;
    let images = super::images(globals)?.prune(args.all)?;
    if !containers.is_empty() {
        println!("Deleted Containers:");
        for id in &containers {
            println!("{id}");
        }
        println!();
    }
    if !images.removed.is_empty() {
        println!("Deleted Images:");
        super::image::print_removed(&images.removed);
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(images.reclaimed_bytes)
    );
    Ok(0)
}

/// Prints `question` and reads one answer from stdin: only `y`/`yes` goes on (end of input
/// is a no), as Docker's prompt.
pub(super) fn confirm(question: &str) -> Result<bool> {
    use std::io::Write;
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn df(args: DfArgs, globals: &Globals) -> Result<i32> {
    let format = OutputFormat::parse(args.format.as_deref())?;
    let usage = disk_usage::disk_usage(&super::images(globals)?, &super::containers(globals)?)?;
    let rows: Vec<serde_json::Value> = [
        ("Images", &usage.images),
        ("Containers", &usage.containers),
        ("Local Volumes", &usage.volumes),
        ("Build Cache", &usage.build_cache),
    ]
    .into_iter()
    .map(|(kind, row)| df_row(kind, row))
    .collect();
    let headers = [
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ];
    let table = || {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                headers
                    .iter()
                    .map(|(field, _)| match &row[field] {
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        let titles: Vec<&str> = headers.iter().map(|(_, title)| *title).collect();
        crate::format::table(&titles, &cells)
    };
    print!("{}", format.render(&rows, &headers, table)?);
    Ok(0)
}

/// One row as Docker's formatter gives it: sizes human-readable, the reclaimable share in
/// percent when there is anything at all.
fn df_row(kind: &str, row: &UsageRow) -> serde_json::Value {
    json!({
        "Type": kind,
        "TotalCount": row.total_count.to_string(),
        "Active": row.active.to_string(),
        "Size": human_size(row.size),
        "Reclaimable": reclaimable_text(row),
    })
}

fn reclaimable_text(row: &UsageRow) -> String {
    if row.size == 0 {
        return human_size(row.reclaimable);
    }
    let percent = row.reclaimable.saturating_mul(100) / row.size;
    format!("{} ({percent}%)", human_size(row.reclaimable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaimable_shows_a_share_only_of_something() {
        let empty = UsageRow::default();
        assert_eq!(reclaimable_text(&empty), "0B");
        let half = UsageRow {
            total_count: 2,
            active: 1,
            size: 8_500_000,
            reclaimable: 4_250_000,
        };
        assert_eq!(reclaimable_text(&half), "4.25MB (50%)");
    }
}
