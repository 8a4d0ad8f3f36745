//! `hull history` (`hull image history`): an image's layers as a table or JSON.

use crate::args::Globals;
use crate::format;
use anyhow::Result;

/// `hull history` flags.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Show full output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image.
    pub image: String,
}

/// `hull history`.
pub fn history(args: HistoryArgs, globals: &Globals) -> Result<i32> {
    let store = super::super::images(globals)?;
    let entries = store.history(&args.image)?;
    if args.format == "json" {
        for entry in &entries {
            println!("{}", serde_json::to_string(entry)?);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let layer = if entry.layer == "<missing>" || args.no_trunc {
                entry.layer.clone()
            } else {
                hull_engine::images::short_id(&entry.layer).to_string()
            };
            let created_by = if args.no_trunc {
                entry.created_by.clone()
            } else {
                format::truncate(&entry.created_by, 45)
            };
            vec![
                layer,
                entry
                    .created
                    .as_deref()
                    .map(format::ago)
                    .unwrap_or_else(|| "N/A".into()),
                created_by,
                format::human_size(entry.size),
                entry.comment.clone(),
            ]
        })
        .collect();
    if args.quiet {
        for row in &rows {
            println!("{}", row[0]);
        }
        return Ok(0);
    }
    print!(
        "{}",
        format::table(
            &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            &rows
        )
    );
    Ok(0)
}
