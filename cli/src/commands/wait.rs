//! `hull wait`: block until containers stop, print each exit code.

use crate::args::Globals;
use anyhow::Result;
use std::time::Duration;

/// `hull wait` flags.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Containers to wait for.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull wait`.
pub fn run(args: WaitArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        let container = store.find_current(reference)?;
        while !super::stop::wait_stopped(&store, &container.id, Duration::from_secs(3600))? {}
        let done = store.find_current(&container.id)?;
        println!("{}", done.state.exit_code);
        Ok(())
    })
}
