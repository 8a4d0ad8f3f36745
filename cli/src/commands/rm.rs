//! `hull rm`: remove containers (running ones only with -f, which kills them first).

use crate::args::Globals;
use anyhow::{bail, Result};
use std::time::Duration;

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
    let store = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        let container = store.find_current(reference)?;
        if container.is_running() {
            if !args.force {
                bail!("cannot remove container {reference}: container is running: stop the container before removing or force remove (hull rm -f)");
            }
            super::stop::stop(&store, &container, Duration::ZERO)?;
        }
        store.remove(&container.id)?;
        println!("{reference}");
        Ok(())
    })
}
