//! `hull start`: boot a created or exited container again, its writable layer intact.

use crate::args::Globals;
use crate::detach_keys;
use anyhow::{bail, Result};
use hull_engine::supervisor::Io;

/// `hull start` flags.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Attach stdout/stderr and forward signals; exit with the container's status.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach the container's stdin.
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long, value_name = "KEYS", default_value = detach_keys::DEFAULT)]
    pub detach_keys: String,
    /// Containers to start.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `hull start`.
pub fn run(args: StartArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let container = containers.find(&args.containers[0])?;
        let interactive_tty =
            args.interactive && container.options.tty && container.options.interactive;
        if interactive_tty || !container.config.restart_policy.is_none() {
            // As `run -it`: a shim supervises, so the detach keys can leave it running (and
            // it restarts the container by its policy after this client's first status).
            let keys = detach_keys::parse(&args.detach_keys)?;
            let session = containers.start_and_attach(&container)?;
            return super::attach::follow(&containers, session, &keys);
        }
        let io = Io::Terminal {
            stdin: args.interactive,
        };
        let done = containers.start_attached(&args.containers[0], io)?;
        return Ok(done.state.exit_code);
    }
    super::for_each(&args.containers, |reference| {
        containers.start(reference)?;
        println!("{reference}");
        Ok(())
    })
}
