//! `hull rm`: remove containers (running ones only with -f, which kills them first).

use crate::args::Globals;
use anyhow::Result;

/// `hull rm` flags.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Force the removal of a running container (kills it).
    #[arg(short, long)]
    pub force: bool,
    /// Containers to remove.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull rm`.
pub fn run(args: RmArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        containers.remove(reference, args.force)?;
        println!("{reference}");
        Ok(())
    })
}
