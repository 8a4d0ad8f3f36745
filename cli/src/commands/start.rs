//! `hull start`: boot a created or exited container again, its writable layer intact.

use crate::args::Globals;
use crate::supervisor::{self, Io};
use anyhow::{bail, Result};

/// `hull start` flags.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Attach stdout/stderr and forward signals; exit with the container's status.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach the container's stdin.
    #[arg(short, long)]
    pub interactive: bool,
    /// Containers to start.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull start`.
pub fn run(args: StartArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let container = store.find_current(&args.containers[0])?;
        if container.is_running() {
            bail!(
                "container {} is already running: use hull attach",
                container.name
            );
        }
        let done = supervisor::run(
            &store,
            &container,
            Io::Terminal {
                stdin: args.interactive,
            },
        )?;
        if done.options.auto_remove {
            let _ = store.remove(&done.id);
        }
        return super::run::exit_with(done);
    }
    super::for_each(&args.containers, |reference| {
        let container = store.find_current(reference)?;
        if !container.is_running() {
            super::run::start_detached(globals, &store, &container)?;
        }
        println!("{reference}");
        Ok(())
    })
}
