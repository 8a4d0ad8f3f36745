//! `hull ps`: list containers, reconciled with reality (a killed VMM shows as exited).

use crate::args::Globals;
use crate::format;
use anyhow::Result;
use hull_engine::container::{ids, Container, Status};

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
    /// Output format: `table` or `json` (one JSON object per line, like Docker).
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// Docker's STATUS column: "Up 3 seconds", "Exited (7) 2 minutes ago", "Created".
pub fn status_text(container: &Container) -> String {
    let state = &container.state;
    match state.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}",
            state
                .started_at
                .as_deref()
                .and_then(format::since)
                .map(format::human_duration)
                .unwrap_or_default()
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            state.exit_code,
            state
                .finished_at
                .as_deref()
                .map(format::ago)
                .unwrap_or_default()
        ),
        Status::Dead => "Dead".into(),
    }
}

/// `hull ps`.
pub fn run(args: PsArgs, globals: &Globals) -> Result<i32> {
    let shown = super::containers(globals)?.list(args.all)?;
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
    if args.format == "json" {
        for container in &shown {
            let line = serde_json::json!({
                "ID": id(container),
                "Image": container.image,
                "Command": container.command.join(" "),
                "CreatedAt": container.created,
                "RunningFor": format::ago(&container.created),
                "State": container.state.status,
                "Status": status_text(container),
                "ExitCode": container.state.exit_code,
                "Names": container.name,
                "Engine": container.options.engine,
            });
            println!("{line}");
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|c| {
            let command = format!("\"{}\"", c.command.join(" "));
            vec![
                id(c),
                c.image.clone(),
                if args.no_trunc {
                    command
                } else {
                    format::truncate(&command, 22)
                },
                format::ago(&c.created),
                status_text(c),
                c.name.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        format::table(
            &[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "NAMES"
            ],
            &rows
        )
    );
    Ok(0)
}
