//! `hull commit CONTAINER [REPO[:TAG]]`: a new image from the container's changes, printed
//! as Docker prints it (`sha256:<id>`).

use crate::args::Globals;
use crate::exit::daemon_error;
use anyhow::Result;
use hull_engine::containers::CommitRequest;

/// `hull commit` flags.
#[derive(Debug, clap::Args)]
pub struct CommitArgs {
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE,
    /// LABEL, USER, VOLUME, WORKDIR).
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Pause container during commit.
    #[arg(short, long, default_value = "true", num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub pause: bool,
    /// The container.
    pub container: String,
    /// The new image's name.
    pub repository: Option<String>,
}

/// Commits and prints the new image's id.
pub fn run(args: CommitArgs, globals: &Globals) -> Result<i32> {
    let request = CommitRequest {
        repository: args.repository,
        message: args.message,
        author: args.author,
        changes: args.change,
        pause: args.pause,
    };
    let image = super::containers(globals)?
        .commit(&args.container, &request)
        .map_err(daemon_error)?;
    println!("{}", image.id);
    Ok(0)
}
