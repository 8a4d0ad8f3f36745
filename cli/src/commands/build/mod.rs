//! `hull build [OPTIONS] CONTEXT|-`: builds an image from a Dockerfile, its progress drawn
//! as `docker build` (BuildKit) draws it: numbered steps, RUN output as it comes, CACHED
//! steps, times; on a terminal, finished steps fold into one line each.

mod request;

use crate::args::Globals;
use crate::build_display::{BuildDisplay, Mode};
use crate::exit::daemon_error;
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// `hull build` flags.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format.
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"); "-" reads it from stdin.
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables (NAME=VALUE, or NAME to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long)]
    pub no_cache: bool,
    /// Set metadata for an image (KEY=VALUE).
    #[arg(long)]
    pub label: Vec<String>,
    /// Set type of progress output (auto, plain, tty).
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Suppress the build output and print image ID on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set the networking mode for the RUN instructions during build.
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Pull FROM images: `--pull` alone always pulls a newer version; or "always",
    /// "missing" (the default), "never".
    #[arg(long, num_args = 0..=1, default_value = "missing", default_missing_value = "always",
          require_equals = true)]
    pub pull: String,
    /// Remove intermediate containers after a successful build (always done).
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub rm: bool,
    /// Set platform if server is multi-platform capable (linux/amd64 only).
    #[arg(long)]
    pub platform: Option<String>,
    /// Build context: a directory, or "-" for a Dockerfile or a tar context on stdin.
    pub context: String,
}

/// Builds; prints the image id with `-q`.
pub fn run(args: BuildArgs, globals: &Globals) -> Result<i32> {
    if let Some(platform) = args.platform.as_deref() {
        if !matches!(platform, "linux/amd64" | "linux/x86_64") {
            bail!("--platform {platform}: hull builds linux/amd64 images only");
        }
    }
    let mode = match (args.quiet, args.progress.as_str()) {
        (true, _) => Mode::Quiet,
        (false, "plain") => Mode::Plain,
        (false, "tty") => Mode::Tty,
        (false, "auto") if std::io::stderr().is_terminal() => Mode::Tty,
        (false, "auto") => Mode::Plain,
        (false, other) => bail!("invalid --progress {other:?}: auto, plain or tty"),
    };
    // A context from stdin is unpacked here (it is empty beside a Dockerfile on stdin); it
    // must outlive the build.
    let staged_context = tempfile::tempdir().context("cannot make a directory for the context")?;
    let request = args.request(globals, staged_context.path())?;
    let progress = BuildDisplay::new(mode);
    let containers = super::containers(globals)?;
    let built = containers.build(&request, &progress);
    progress.finish_bar();
    let outcome = match built {
        Ok(outcome) => outcome,
        Err(e) => {
            progress.failed();
            return Err(daemon_error(e));
        }
    };
    let id = outcome.image.id.clone();
    progress.wrote(&id, &args.tag);
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if mode == Mode::Quiet {
        println!("{id}");
    }
    Ok(0)
}
