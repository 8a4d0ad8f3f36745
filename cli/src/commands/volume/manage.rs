//! `hull volume create|rm|prune`.

use crate::args::Globals;
use crate::exit::daemon_error;
use anyhow::{bail, Result};
use hull_engine::volumes::CreateVolume;
use std::collections::BTreeMap;

/// `volume create` flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Specify volume driver name (only `local`).
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume (KEY=VALUE).
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options (KEY=VALUE; kept, not interpreted).
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// The volume's name (a random one when left out).
    pub name: Option<String>,
}

/// `volume rm` flags.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Do not fail on a volume that does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// Volume names.
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `volume prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `--label KEY[=VALUE]`s; a label needs a key.
fn labels(entries: &[String]) -> Result<BTreeMap<String, String>> {
    entries
        .iter()
        .map(|entry| match crate::args::label(entry) {
            (key, _) if key.is_empty() => bail!("invalid label {entry:?}: use KEY=VALUE"),
            pair => Ok(pair),
        })
        .collect()
}

/// `--opt KEY=VALUE`s.
fn options(entries: &[String]) -> Result<BTreeMap<String, String>> {
    entries
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => bail!("invalid option {entry:?}: use KEY=VALUE"),
        })
        .collect()
}

/// `volume create`: prints the name.
pub(super) fn create(args: CreateArgs, globals: &Globals) -> Result<i32> {
    let request = CreateVolume {
        name: args.name,
        labels: labels(&args.label)?,
        options: options(&args.opt)?,
        driver: Some(args.driver),
    };
    let volume = super::volumes(globals)?
        .create(&request)
        .map_err(daemon_error)?;
    println!("{}", volume.name);
    Ok(0)
}

/// `volume rm`: each name as it goes; status 1 if any could not be removed.
pub(super) fn rm(args: RmArgs, globals: &Globals) -> Result<i32> {
    let volumes = super::volumes(globals)?;
    let mut status = 0;
    for name in &args.volumes {
        match volumes.remove(name, args.force) {
            Ok(()) => println!("{name}"),
            Err(err) => {
                eprintln!("Error response from hull: {err}");
                status = 1;
            }
        }
    }
    Ok(status)
}

/// `volume prune`.
pub(super) fn prune(args: PruneArgs, globals: &Globals) -> Result<i32> {
    let which = if args.all {
        "all local"
    } else {
        "anonymous local"
    };
    if !args.force
        && !crate::prompt::confirm(&format!(
            "WARNING! This will remove {which} volumes not used by at least one container.\n\
             Are you sure you want to continue? [y/N] "
        ))?
    {
        return Ok(0);
    }
    let (removed, reclaimed) = super::volumes(globals)?
        .prune(args.all)
        .map_err(daemon_error)?;
    if !removed.is_empty() {
        println!("Deleted Volumes:");
        for name in &removed {
            println!("{name}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        crate::format::human_size(reclaimed)
    );
    Ok(0)
}
