//! `hull info`: what this host offers for VMs, what `hull run` will use, and why (gathered by
//! `hull_engine::system::host_info`), as a table or JSON.

mod table;

use crate::args::Globals;
use anyhow::Result;

/// `hull info` flags.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// Prints host facts and the engine choice.
pub fn run(args: InfoArgs, globals: &Globals) -> Result<()> {
    let report = hull_engine::system::host_info::gather(&globals.root, globals.vmm);
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table::render(&report));
    }
    Ok(())
}
