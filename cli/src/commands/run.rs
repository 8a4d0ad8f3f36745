//! `hull run`: create a container from an image and boot it, in the foreground (its exit
//! status becomes hull's) or detached (`-d`, supervised by a `hull shim` process). The
//! flags of the "create" half ([`CreateArgs`]) are also `hull create`'s.

use super::create::CreateArgs;
use crate::args::Globals;
use crate::detach_keys;
use crate::progress::TerminalProgress;
use anyhow::{bail, Result};
use hull_engine::supervisor::Io;

/// `hull run` flags (Docker's names): `hull create`'s and `-d`.
#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container (with -it).
    #[arg(long, value_name = "KEYS", default_value = detach_keys::DEFAULT)]
    pub detach_keys: String,
    /// What to create.
    #[command(flatten)]
    pub create: CreateArgs,
}

/// `hull run`.
pub fn run(args: RunArgs, globals: &Globals) -> Result<i32> {
    use std::io::IsTerminal;
    let RunArgs {
        detach,
        detach_keys,
        create: args,
    } = args;
    let detach_keys = detach_keys::parse(&detach_keys)?;
    if args.tty && args.interactive && !detach && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY: drop -t, or run hull from a terminal");
    }
    let containers = super::containers(globals)?;
    let container = containers.create(&args.request(globals)?, &TerminalProgress::new())?;
    if detach {
        containers.start_detached(&container)?;
        println!("{}", container.id);
        return Ok(0);
    }
    if (args.tty && args.interactive) || !args.host.restart.is_none() {
        // Supervised by a shim, this process its first attached client: the detach keys can
        // then leave the container running, as Docker's do, and the shim restarts it by its
        // policy after this client has its first exit status.
        let session = containers.start_and_attach(&container)?;
        return super::attach::follow(&containers, session, &detach_keys);
    }
    let done = containers.supervise(
        &container,
        Io::Terminal {
            stdin: args.interactive,
        },
    );
    containers.remove_if_auto(&container);
    // A start error (126 "cannot execute", 127 "not found", ...) was already printed by the
    // guest on the container's stderr, as Docker prints it.
    Ok(done?.state.exit_code)
}
