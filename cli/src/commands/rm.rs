//! `hull rm`: remove containers (running ones only with -f, which kills them first).

use crate::args::Globals;
use anyhow::Result;

/// `hull rm` flags.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Force the removal of a running container (kills it).
    #[arg(short, long)]
    pub force: bool,
    /// Remove the anonymous volumes associated with the container.
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers to remove.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull rm`.
pub fn run(args: RmArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        match containers.remove_with_volumes(reference, args.force, args.volumes) {
            Ok(()) => println!("{reference}"),
            // Docker's `rm -f` reports an unknown name but does not fail on it.
            Err(hull_engine::error::Error::NoSuchContainer(_)) if args.force => {
                eprintln!("Error response from hull: No such container: {reference}");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    })
}
