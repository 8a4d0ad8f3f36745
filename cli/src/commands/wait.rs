//! `hull wait`: block until containers stop, print each exit code.

use crate::args::Globals;
use anyhow::Result;

/// `hull wait` flags.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Containers to wait for.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull wait`.
pub fn run(args: WaitArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        println!("{}", containers.wait(reference)?);
        Ok(())
    })
}
