//! `hull ps`: list containers, reconciled with reality (a killed VMM shows as exited).

mod table;

use crate::args::Globals;
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::containers::filter::ContainerFilter;

/// `hull ps` flags.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output (`name=web`, `status=exited`, `label=k=v`, `exited=3`, `ancestor=busybox`,
    /// `id=`, `before=`, `since=`).
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Show the n last created containers (all states).
    #[arg(short = 'n', long = "last", allow_negative_numbers = true)]
    pub last: Option<i64>,
    /// Show the latest created container (all states).
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Output format: `table`, `json` (one JSON object per line) or a Go template
    /// (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long)]
    pub format: Option<String>,
}

/// `hull ps`.
pub fn run(args: PsArgs, globals: &Globals) -> Result<i32> {
    let output = OutputFormat::parse(args.format.as_deref())?;
    let filter = ContainerFilter::parse(&args.filter).map_err(crate::exit::daemon_error)?;
    let last = if args.latest {
        Some(1)
    } else {
        args.last.filter(|n| *n >= 0)
    };
    let all = args.all || last.is_some() || filter.wants_stopped();
    let mut shown = filter.apply(super::containers(globals)?.list(all)?);
    if let Some(last) = last {
        shown.truncate(usize::try_from(last).unwrap_or(usize::MAX));
    }
    if args.quiet {
        for container in &shown {
            println!("{}", table::id(container, args.no_trunc));
        }
        return Ok(0);
    }
    print!("{}", table::render(&output, &shown, args.no_trunc)?);
    Ok(0)
}
