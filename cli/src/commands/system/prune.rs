//! `hull system prune`: stopped containers, then dangling (or, with `-a`, unused) images.

use crate::args::Globals;
use crate::format::human_size;
use anyhow::Result;

/// `hull system prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// Docker's `system prune`: asks first unless `-f`, then prunes containers and images.
pub(super) fn prune(args: PruneArgs, globals: &Globals) -> Result<i32> {
    let images_line = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !args.force
        && !crate::prompt::confirm(&format!(
            "WARNING! This will remove:\n  - all stopped containers\n  - {images_line}\n\n\
             Are you sure you want to continue? [y/N] "
        ))?
    {
        return Ok(0);
    }
    let containers = super::super::containers(globals)?.prune()?;
    let images = super::super::images(globals)?.prune(args.all)?;
    if !containers.is_empty() {
        println!("Deleted Containers:");
        for id in &containers {
            println!("{id}");
        }
        println!();
    }
    if !images.removed.is_empty() {
        println!("Deleted Images:");
        super::super::image::print_removed(&images.removed);
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(images.reclaimed_bytes)
    );
    Ok(0)
}
