//! `hull system df|events|info`: Docker's `system` verbs.

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
    }
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
