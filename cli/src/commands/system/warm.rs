//! `hull system warm`: the warm-start zygotes (saved, already booted VMs every container
//! is restored from) in the cache, with their warm pools' ready VMs: list them, or remove
//! them all (`--rm`, which ends the pools' VMs; the next run makes a new zygote).

use crate::args::Globals;
use crate::format::{self, human_size};
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::vm::warm::cache;
use serde_json::json;

/// `hull system warm` flags.
#[derive(Debug, clap::Args)]
pub struct WarmArgs {
    /// Remove every zygote (containers then boot cold until the next one is made).
    #[arg(long)]
    pub rm: bool,
    /// Internal: fill the warm-pool entry at this path (started by hull itself).
    #[arg(long, hide = true, value_name = "ENTRY")]
    pub fill: Option<std::path::PathBuf>,
    /// Format the output with a Go template (`{{.Engine}}`, `{{.Memory}}`, ...), `table` or
    /// `json`.
    #[arg(long)]
    pub format: Option<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("Engine", "ENGINE"),
    ("Memory", "MEMORY"),
    ("CPUs", "CPUS"),
    ("NICs", "NICS"),
    ("Pool", "POOL"),
    ("Size", "SIZE"),
    ("Created", "CREATED"),
    ("Path", "PATH"),
];

/// `hull system warm`.
pub(super) fn warm(args: WarmArgs, _: &Globals) -> Result<i32> {
    if let Some(entry) = &args.fill {
        hull_engine::vm::warm::pool::fill(entry)?;
        return Ok(0);
    }
    if args.rm {
        let removed = cache::remove_all()?;
        println!(
            "Removed {removed} warm-start zygote{}",
            if removed == 1 { "" } else { "s" }
        );
        return Ok(0);
    }
    let format = OutputFormat::parse(args.format.as_deref())?;
    let rows: Vec<serde_json::Value> = cache::list()
        .into_iter()
        .map(|(dir, meta, bytes)| {
            json!({
                "Engine": meta.engine,
                "Memory": format!("{}MiB", meta.mem_mib),
                "CPUs": meta.cpus.to_string(),
                "NICs": meta.nics.to_string(),
                "Pool": hull_engine::vm::warm::pool::ready_count(&dir).to_string(),
                "Size": human_size(bytes),
                "Created": meta.created,
                "Path": dir.display().to_string(),
            })
        })
        .collect();
    let table = || format::fields_table(HEADERS, &rows);
    print!("{}", format.render(&rows, HEADERS, table)?);
    Ok(0)
}
