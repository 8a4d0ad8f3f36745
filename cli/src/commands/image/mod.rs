//! Image verbs on the image store: images, load, save, rmi, tag, history, image prune,
//! image bootstrap (and `hull image ls|rm|inspect|...` aliases).

mod archive;
mod history;
mod list;
mod remove;

pub use archive::{bootstrap, load, save, BootstrapArgs, LoadArgs, SaveArgs};
pub use history::{history, HistoryArgs};
pub use list::{images, ImagesArgs};
pub use remove::{print_removed, prune, rmi, tag, PruneArgs, RmiArgs, TagArgs};

use crate::args::Globals;
use anyhow::Result;

/// `hull image ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Load an image from a tar archive.
    Load(LoadArgs),
    /// Save images to a tar archive.
    Save(SaveArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Tag an image.
    Tag(TagArgs),
    /// Show an image's history.
    History(HistoryArgs),
    /// Display detailed information on images.
    Inspect(super::inspect::InspectArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Create an offline base image (busybox, debian:bookworm, scratch).
    Bootstrap(BootstrapArgs),
    /// Download an image from a registry.
    Pull(super::registry::PullArgs),
    /// Upload an image to a registry.
    Push(super::registry::PushArgs),
}

/// Runs `hull image SUBCOMMAND`.
pub fn dispatch(command: ImageCommand, globals: &Globals) -> Result<i32> {
    match command {
        ImageCommand::Ls(args) => images(args, globals),
        ImageCommand::Load(args) => load(args, globals),
        ImageCommand::Save(args) => save(args, globals),
        ImageCommand::Rm(args) => rmi(args, globals),
        ImageCommand::Tag(args) => tag(args, globals),
        ImageCommand::History(args) => history(args, globals),
        ImageCommand::Inspect(mut args) => {
            args.kind = Some("image".into());
            super::inspect::run(args, globals)
        }
        ImageCommand::Prune(args) => prune(args, globals),
        ImageCommand::Bootstrap(args) => bootstrap(args, globals),
        ImageCommand::Pull(args) => super::registry::pull(args, globals),
        ImageCommand::Push(args) => super::registry::push(args, globals),
    }
}
