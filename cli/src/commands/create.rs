//! `hull create`: make a container from an image without booting it, as `docker create`
//! does: `ps -a` shows it "Created", `hull start` boots it, `hull rm` removes it. The flags
//! are `hull run`'s (without `-d`), and so is the code that prepares the container.

use super::run::{create, CreateArgs};
use crate::args::Globals;
use anyhow::Result;

/// `hull create`: prints the new container's full id.
pub fn run(args: CreateArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    let container = create(&args, globals, &store)?;
    println!("{}", container.id);
    Ok(0)
}
