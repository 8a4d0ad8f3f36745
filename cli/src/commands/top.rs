//! `hull top CONTAINER [ps OPTIONS]`: the container's processes as `ps -ef` (or the given
//! options, see `processes::columns`) shows them.

use crate::args::Globals;
use crate::exit::daemon_error;
use crate::processes;
use anyhow::Result;
use hull_engine::Error;

/// `hull top` arguments.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The container.
    pub container: String,
    /// `ps` options (default `-ef`): `-e`, `-f`, `-o FIELD,...`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    pub ps_options: Vec<String>,
}

/// `hull top`.
pub fn run(args: TopArgs, globals: &Globals) -> Result<i32> {
    // Docker's CLI exits 1 for the daemon's refusals, `ps`'s included.
    let columns = processes::columns(&args.ps_options).map_err(daemon_error)?;
    let answer = super::containers(globals)?
        .top(&args.container)
        .map_err(|err| match err {
            Error::NoSuchContainer(_)
            | Error::AmbiguousContainer(_)
            | Error::NotRunning(_)
            | Error::Paused(..) => daemon_error(err),
            other => other.into(),
        })?;
    let table = processes::table(&columns, &answer.processes, std::time::SystemTime::now())
        .map_err(daemon_error)?;
    print!("{table}");
    if answer.truncated {
        eprintln!(
            "hull: only the first {} processes are shown",
            answer.processes.len()
        );
    }
    Ok(0)
}
