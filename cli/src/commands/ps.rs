//! `hull ps`: list containers, reconciled with reality (a killed VMM shows as exited).

use crate::args::Globals;
use crate::format;
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::container::{ids, status, Container};
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

/// Column titles of `ps --format 'table ...'`, by field.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

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
    let id = |c: &Container| {
        if args.no_trunc {
            c.id.clone()
        } else {
            ids::short(&c.id).to_string()
        }
    };
    if args.quiet {
        for container in &shown {
            println!("{}", id(container));
        }
        return Ok(0);
    }
    let command = |c: &Container| {
        let quoted = format!("\"{}\"", c.command.join(" "));
        if args.no_trunc {
            quoted
        } else {
            format::truncate(&quoted, 22)
        }
    };
    let fields: Vec<serde_json::Value> = shown
        .iter()
        .map(|c| {
            serde_json::json!({
                "ID": id(c),
                "Image": c.image,
                "Command": command(c),
                "CreatedAt": c.created,
                "RunningFor": format::ago(&c.created),
                "Ports": ports_text(c),
                "State": hull_engine::containers::filter::state_name(c),
                "Status": status::status_text(c),
                "Size": "",
                "Names": c.name,
                "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": "",
                "Networks": c.config.network.mode,
                "ExitCode": c.state.exit_code,
                "Engine": c.options.engine,
            })
        })
        .collect();
    let default_table = || {
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|c| {
                vec![
                    id(c),
                    c.image.clone(),
                    command(c),
                    format::ago(&c.created),
                    status::status_text(c),
                    ports_text(c),
                    c.name.clone(),
                ]
            })
            .collect();
        format::table(
            &[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES",
            ],
            &rows,
        )
    };
    print!("{}", output.render(&fields, HEADERS, default_table)?);
    Ok(0)
}

/// Docker's PORTS text: `127.0.0.1:8080->80/tcp` for each published port while the
/// container runs, `80/tcp` for an exposed port that is not (nothing while it does not run).
fn ports_text(container: &hull_engine::container::Container) -> String {
    if !container.is_up() {
        return String::new();
    }
    let published = container
        .state
        .network
        .as_ref()
        .filter(|_| container.is_up())
        .map(|network| network.ports.as_slice())
        .unwrap_or_default();
    let mut entries: Vec<String> = published
        .iter()
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                p.host_ip, p.host_port, p.container_port, p.protocol
            )
        })
        .collect();
    for exposed in &container.config.exposed_ports {
        let shown = published
            .iter()
            .any(|p| format!("{}/{}", p.container_port, p.protocol) == *exposed);
        if !shown {
            entries.push(exposed.clone());
        }
    }
    entries.join(", ")
}
