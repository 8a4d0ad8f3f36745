//! `hull create`: make a container from an image without booting it, as `docker create`
//! does: `ps -a` shows it "Created", `hull start` boots it, `hull rm` removes it. The flags
//! ([`CreateArgs`], in `flags.rs`) are `hull run`'s (without `-d`); `request.rs` turns them
//! into the engine's request for both verbs.

mod flags;
mod request;

pub use flags::CreateArgs;

use crate::args::Globals;
use crate::progress::TerminalProgress;
use anyhow::Result;

/// `hull create`: prints the new container's full id.
pub fn run(args: CreateArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    let container = containers.create(&args.request(globals)?, &TerminalProgress::new())?;
    println!("{}", container.id);
    Ok(0)
}
