//! `hull restart`, `hull rename` and `hull container prune`.

use crate::args::Globals;
use anyhow::Result;
use std::time::Duration;

/// `hull restart` flags.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container (default: its --stop-timeout, else 10).
    #[arg(short = 't', long = "time")]
    pub time: Option<u64>,
    /// Containers to restart.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull rename` arguments.
#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    /// The container.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// `hull container prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation (hull never prompts).
    #[arg(short, long)]
    pub force: bool,
}

/// `hull restart`.
pub fn restart(args: RestartArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        containers.restart(reference, args.time.map(Duration::from_secs))?;
        println!("{reference}");
        Ok(())
    })
}

/// `hull rename`.
pub fn rename(args: RenameArgs, globals: &Globals) -> Result<i32> {
    super::containers(globals)?.rename(&args.container, &args.new_name)?;
    Ok(0)
}

/// `hull container prune`: removes every container that is not running.
pub fn prune(_args: PruneArgs, globals: &Globals) -> Result<i32> {
    let removed = super::containers(globals)?.prune()?;
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
        println!();
    }
    // The writable layers are sparse files the store does not size yet.
    println!("Total reclaimed space: 0B");
    Ok(0)
}
