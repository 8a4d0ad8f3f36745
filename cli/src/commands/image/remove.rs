//! Names and removal: `hull tag`, `hull rmi`, `hull image prune`.

use crate::args::Globals;
use crate::format;
use anyhow::Result;
use hull_engine::images::Removed;

/// `hull tag` arguments.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Existing image.
    pub source: String,
    /// New reference.
    pub target: String,
}

/// `hull rmi`.flags.
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Force removal (untags an image still used by containers).
    #[arg(short, long)]
    pub force: bool,
    /// Images to remove.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `hull image prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all images not used by a container, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation (hull never prompts).
    #[arg(short, long)]
    pub force: bool,
}

/// `Untagged: NAME` and `Deleted: ID` lines, as Docker prints removals.
pub fn print_removed(removed: &[Removed]) {
    for entry in removed {
        match entry {
            Removed::Untagged(name) => println!("Untagged: {name}"),
            Removed::Deleted(id) => println!("Deleted: {id}"),
        }
    }
}

/// `hull rmi`.
pub fn rmi(args: RmiArgs, globals: &Globals) -> Result<i32> {
    let store = super::super::images(globals)?;
    super::super::for_each(&args.images, |reference| {
        let removed = store.remove(reference, args.force)?;
        print_removed(&removed);
        Ok(())
    })
}

/// `hull tag`.
pub fn tag(args: TagArgs, globals: &Globals) -> Result<i32> {
    let store = super::super::images(globals)?;
    store.tag(&args.source, &args.target)?;
    Ok(0)
}

/// `hull image prune`.
pub fn prune(args: PruneArgs, globals: &Globals) -> Result<i32> {
    let store = super::super::images(globals)?;
    let report = store.prune(args.all)?;
    if !report.removed.is_empty() {
        println!("Deleted Images:");
        print_removed(&report.removed);
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        format::human_size(report.reclaimed_bytes)
    );
    Ok(0)
}
