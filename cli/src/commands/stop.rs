//! `hull stop`: SIGTERM to the container's process, SIGKILL after the grace period, and if
//! even that does not end the VM, the VMM itself is killed.

use crate::args::Globals;
use anyhow::Result;
use std::time::Duration;

/// `hull stop` flags.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container (default: its --stop-timeout, else 10).
    #[arg(short = 't', long = "time")]
    pub time: Option<u64>,
    /// Containers to stop.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull stop`.
pub fn run(args: StopArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        containers.stop(reference, args.time.map(Duration::from_secs))?;
        println!("{reference}");
        Ok(())
    })
}
