//! `hull cp`: copy files and directories between a container and the host (Docker's
//! `docker cp`, both directions, `-` for a tar stream on stdin or stdout).

use crate::args::Globals;
use crate::exit::daemon_error;
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

/// Docker's `units.HumanSize`: decimal units, four significant digits.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    // %.4g: four significant digits, trailing zeros dropped.
    let decimals = match size {
        s if s >= 1000.0 => 0,
        s if s >= 100.0 => 1,
        s if s >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{size:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
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

    #[test]
    fn sizes_are_human_as_go_units_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(2048), "2.048kB");
        assert_eq!(human_size(10_240), "10.24kB");
        assert_eq!(human_size(1_500_000), "1.5MB");
    }
}
