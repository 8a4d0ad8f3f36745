//! `hull system df`: disk usage by kind (images, containers, volumes, build cache), counted
//! by `hull_engine::system::disk_usage`, shown as Docker's formatter shows it.

use crate::args::Globals;
use crate::format::{self, human_size};
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::system::disk_usage::{self, UsageRow};
use serde_json::json;

/// `hull system df` flags.
#[derive(Debug, clap::Args)]
pub struct DfArgs {
    /// Format the output with a Go template (`{{.Type}}`, `{{.TotalCount}}`, `{{.Active}}`,
    /// `{{.Size}}`, `{{.Reclaimable}}`), `table` or `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// The columns, by field: the default table and a `table` template's titles.
const HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// `hull system df`.
pub(super) fn df(args: DfArgs, globals: &Globals) -> Result<i32> {
    let format = OutputFormat::parse(args.format.as_deref())?;
    let usage = disk_usage::disk_usage(
        &super::super::images(globals)?,
        &super::super::containers(globals)?,
    )?;
    let rows: Vec<serde_json::Value> = [
        ("Images", &usage.images),
        ("Containers", &usage.containers),
        ("Local Volumes", &usage.volumes),
        ("Build Cache", &usage.build_cache),
    ]
    .into_iter()
    .map(|(kind, row)| df_row(kind, row))
    .collect();
    let table = || format::fields_table(HEADERS, &rows);
    print!("{}", format.render(&rows, HEADERS, table)?);
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
