//! `hull ps`'s rows: each container's fields as Docker's `--format` names them, and the
//! default table's columns.

use crate::format;
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::container::{ids, status, Container};

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

/// Docker's default columns, by field.
const DEFAULT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
];

/// The container's id, 12 hex digits unless `--no-trunc`.
pub(super) fn id(container: &Container, no_trunc: bool) -> String {
    if no_trunc {
        container.id.clone()
    } else {
        ids::short(&container.id).to_string()
    }
}

/// The containers as `--format` asks (the default table without one).
pub(super) fn render(output: &OutputFormat, shown: &[Container], no_trunc: bool) -> Result<String> {
    let command = |c: &Container| {
        let quoted = format!("\"{}\"", c.command.join(" "));
        if no_trunc {
            quoted
        } else {
            format::truncate(&quoted, 22)
        }
    };
    let fields: Vec<serde_json::Value> = shown
        .iter()
        .map(|c| {
            serde_json::json!({
                "ID": id(c, no_trunc),
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
    output.render(&fields, HEADERS, || {
        format::fields_table(DEFAULT_COLUMNS, &fields)
    })
}

/// Docker's PORTS text: `127.0.0.1:8080->80/tcp` for each published port while the
/// container runs, `80/tcp` for an exposed port that is not (nothing while it does not run).
fn ports_text(container: &Container) -> String {
    if !container.is_up() {
        return String::new();
    }
    let published = container
        .state
        .network
        .as_ref()
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
