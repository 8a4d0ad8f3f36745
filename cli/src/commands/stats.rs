//! `hull stats`: each running container's CPU, memory and pids as its own cgroup in the
//! guest counts them (not the VM's), from the reports hull-init sends every second.

use crate::args::Globals;
use crate::format;
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::container::ids;
use hull_engine::containers::stats::ContainerStats;
use std::time::Duration;

/// `hull stats` flags.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Print one table and exit (default: refresh every second until interrupted).
    #[arg(long)]
    pub no_stream: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: `table`, `json` or a Go template (`{{.Name}} {{.MemUsage}}`).
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (default: all running ones).
    pub containers: Vec<String>,
}

/// Column titles of `stats --format 'table ...'`, by field.
const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// `hull stats`.
pub fn run(args: StatsArgs, globals: &Globals) -> Result<i32> {
    let output = OutputFormat::parse(args.format.as_deref())?;
    let containers = super::containers(globals)?;
    loop {
        let shown = if args.containers.is_empty() {
            containers.list(args.all)?
        } else {
            args.containers
                .iter()
                .map(|reference| containers.find(reference))
                .collect::<std::result::Result<_, _>>()?
        };
        let stats: Vec<ContainerStats> = shown.iter().map(|c| containers.stats_of(c)).collect();
        let text = render(&output, &stats, args.no_trunc)?;
        if args.no_stream {
            print!("{text}");
            return Ok(0);
        }
        // Docker's live view: the table redrawn in place.
        print!("\x1b[2J\x1b[H{text}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One snapshot of `stats` as `--format` asks.
fn render(output: &OutputFormat, stats: &[ContainerStats], no_trunc: bool) -> Result<String> {
    #[allow(clippy::cast_precision_loss)]
    let mem_percent = |s: &ContainerStats| {
        if s.memory_limit == 0 {
            0.0
        } else {
            s.memory_bytes as f64 * 100.0 / s.memory_limit as f64
        }
    };
    let id = |s: &ContainerStats| {
        if no_trunc {
            s.id.clone()
        } else {
            ids::short(&s.id).to_string()
        }
    };
    let rows: Vec<serde_json::Value> = stats
        .iter()
        .map(|s| {
            serde_json::json!({
                "Container": id(s),
                "ID": id(s),
                "Name": s.name,
                "CPUPerc": format!("{:.2}%", s.cpu_percent),
                "MemUsage": format!("{} / {}", format::binary_size(s.memory_bytes), format::binary_size(s.memory_limit)),
                "MemPerc": format!("{:.2}%", mem_percent(s)),
                "NetIO": "0B / 0B",
                "BlockIO": "0B / 0B",
                "PIDs": s.pids.to_string(),
            })
        })
        .collect();
    // Docker's default table: every column but CONTAINER (which repeats the ID here).
    output.render(&rows, HEADERS, || {
        format::fields_table(&HEADERS[1..], &rows)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_has_dockers_columns() {
        let stats = [ContainerStats {
            id: "a".repeat(64),
            name: "web".into(),
            cpu_percent: 1.5,
            memory_bytes: 1 << 20,
            memory_limit: 64 << 20,
            pids: 3,
            reported: true,
        }];
        let text = render(&OutputFormat::Table, &stats, false).unwrap();
        let mut lines = text.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT"));
        let row = lines.next().unwrap();
        assert!(
            row.contains("1.50%") && row.contains("1MiB / 64MiB") && row.contains("1.56%"),
            "{row}"
        );
        assert!(row.ends_with('3'));
    }
}
