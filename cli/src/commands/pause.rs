//! `hull pause` and `hull unpause`: stop and resume a container VM's vCPUs.

use crate::args::Globals;
use anyhow::Result;

/// `hull pause` / `hull unpause` arguments.
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull pause`.
pub fn pause(args: PauseArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        containers.pause(reference)?;
        println!("{reference}");
        Ok(())
    })
}

/// `hull unpause`.
pub fn unpause(args: PauseArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        containers.unpause(reference)?;
        println!("{reference}");
        Ok(())
    })
}
