//! `hull cp`: copy files and directories between a container and the host (Docker's
//! `docker cp`, both directions, `-` for a tar stream on stdin or stdout).

use crate::args::Globals;
use crate::exit::daemon_error;
use crate::format::human_size;
use anyhow::Result;
use hull_engine::containers::{CopyOptions, CopySource, CopyTarget};
use std::io::IsTerminal;
use std::path::PathBuf;

/// `hull cp` flags.
#[derive(Debug, clap::Args)]
#[command(
    override_usage = "hull cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       hull cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if
    /// no terminal is attached
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, or SRC_PATH|- on the host
    pub source: String,
    /// DEST_PATH|- on the host, or CONTAINER:DEST_PATH
    pub destination: String,
}

/// One side of the copy: `CONTAINER:PATH` or a host path (Docker's `splitCpArg`: an
/// absolute path, a path without `:` or one starting with `.` is the host's).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Side {
    Container { container: String, path: String },
    Host(String),
}

fn split(arg: &str) -> Side {
    if arg.starts_with('/') {
        return Side::Host(arg.to_string());
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.starts_with('.') => Side::Container {
            container: container.to_string(),
            path: path.to_string(),
        },
        _ => Side::Host(arg.to_string()),
    }
}

/// `hull cp`. Every failure exits 1, as Docker's CLI does for `cp`.
pub fn run(args: CpArgs, globals: &Globals) -> Result<i32> {
    let options = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    if args.source.is_empty() {
        return Err(daemon_error("source can not be empty"));
    }
    if args.destination.is_empty() {
        return Err(daemon_error("destination can not be empty"));
    }
    let containers = super::containers(globals)?;
    let (bytes, shown) = match (split(&args.source), split(&args.destination)) {
        (Side::Container { .. }, Side::Container { .. }) => {
            return Err(daemon_error("copying between containers is not supported"))
        }
        (Side::Host(_), Side::Host(_)) => {
            return Err(daemon_error("must specify at least one container source"))
        }
        (Side::Container { container, path }, Side::Host(dest)) => {
            let mut stdout = std::io::stdout().lock();
            let target = if dest == "-" {
                CopyTarget::Stream(&mut stdout)
            } else {
                CopyTarget::Host(PathBuf::from(&dest))
            };
            let bytes = containers
                .copy_from_container(&container, &path, target, options)
                .map_err(daemon_error)?;
            (bytes, dest)
        }
        (Side::Host(source), Side::Container { container, path }) => {
            let mut stdin = std::io::stdin().lock();
            let from = if source == "-" {
                CopySource::Stream(&mut stdin)
            } else {
                CopySource::Host(PathBuf::from(&source))
            };
            let bytes = containers
                .copy_to_container(&container, from, &path, options)
                .map_err(daemon_error)?;
            (bytes, format!("{container}:{path}"))
        }
    };
    // Docker's closing line, on a terminal only and never for a stream on stdout.
    if !args.quiet && shown != "-" && std::io::stderr().is_terminal() {
        eprintln!("Successfully copied {} to {shown}", human_size(bytes));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_sides_are_split_as_docker_does() {
        assert_eq!(
            split("c1:/etc/hostname"),
            Side::Container {
                container: "c1".into(),
                path: "/etc/hostname".into()
            }
        );
        assert_eq!(split("/abs:olute"), Side::Host("/abs:olute".into()));
        assert_eq!(split("./file:name"), Side::Host("./file:name".into()));
        assert_eq!(split("-"), Side::Host("-".into()));
        assert_eq!(split("relative"), Side::Host("relative".into()));
    }
}
