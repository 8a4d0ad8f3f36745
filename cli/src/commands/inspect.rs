//! `hull inspect`: low-level JSON on containers (Docker's shape) or images; `--format`
//! takes a simple Go-template path such as `{{.State.OOMKilled}}`.

use crate::args::Globals;
use crate::container::{Container, Status};
use crate::images;
use anyhow::{bail, Result};
use serde_json::{json, Value};

/// `hull inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format with a template path like `{{.State.ExitCode}}` (default: JSON array).
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only look for this kind: `container` or `image`.
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Names or ids.
    #[arg(required = true)]
    pub objects: Vec<String>,
}

/// Docker's container inspect shape.
pub fn container_json(container: &Container, dir: &std::path::Path) -> Value {
    let state = &container.state;
    let (path, args) = container
        .command
        .split_first()
        .map(|(p, a)| (p.clone(), a.to_vec()))
        .unwrap_or_default();
    json!({
        "Id": container.id,
        "Created": container.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": state.status,
            "Running": state.status == Status::Running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": state.oom_killed,
            "Dead": state.status == Status::Dead,
            "Pid": state.vmm.map_or(0, |p| p.pid),
            "ExitCode": state.exit_code,
            "Error": state.error.clone().unwrap_or_default(),
            "StartedAt": state.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": state.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": container.image_id,
        "Name": format!("/{}", container.name),
        "LogPath": dir.join("container.log"),
        "Config": {
            "Image": container.image,
            "Cmd": container.command,
            "Tty": container.options.tty,
            "OpenStdin": container.options.interactive,
        },
        "HostConfig": {
            "AutoRemove": container.options.auto_remove,
            "Memory": container.options.memory_limit,
            "MemorySwap": container.options.memory_swap,
            "CpuCount": container.options.cpus,
        },
        "Hull": {
            "Engine": container.options.engine,
            // The VM's memory: -m plus the guest's own (commands/memory.rs).
            "VmMemoryMiB": container.options.mem_mib,
            "VmLog": dir.join("vm.log"),
            "Supervisor": state.supervisor.map(|p| p.pid),
        },
    })
}

/// Applies a `{{.A.B}}` template (or `{{json .A}}`) to `value`.
pub fn apply_format(template: &str, value: &Value) -> Result<String> {
    let inner = template
        .trim()
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .map(str::trim);
    let Some(inner) = inner else {
        bail!("unsupported --format {template:?}: use a path like '{{{{.State.Status}}}}'");
    };
    let (as_json, path) = match inner.strip_prefix("json ") {
        Some(path) => (true, path.trim()),
        None => (false, inner),
    };
    let mut current = value;
    for key in path
        .trim_start_matches('.')
        .split('.')
        .filter(|k| !k.is_empty())
    {
        current = current
            .get(key)
            .ok_or_else(|| anyhow::anyhow!("template: no field {key:?} in {path}"))?;
    }
    Ok(match current {
        Value::String(s) if !as_json => s.clone(),
        other => other.to_string(),
    })
}

/// `hull inspect`.
pub fn run(args: InspectArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    let mut found = Vec::new();
    let mut status = 0;
    for reference in &args.objects {
        let as_container = if args.kind.as_deref() == Some("image") {
            None
        } else {
            store.find_current(reference).ok()
        };
        let value = match as_container {
            Some(container) => Some(container_json(&container, &store.paths(&container.id).dir)),
            None if args.kind.as_deref() != Some("container") => images::open(globals)
                .ok()
                .and_then(|s| images::inspect(&s, reference).ok()),
            None => None,
        };
        match value {
            Some(value) => found.push(value),
            None => {
                eprintln!("Error: No such object: {reference}");
                status = 1;
            }
        }
    }
    match &args.format {
        Some(template) => {
            for value in &found {
                println!("{}", apply_format(template, value)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(found))?),
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_pick_fields() {
        let value = json!({"State": {"OOMKilled": true, "Status": "exited"}});
        assert_eq!(
            apply_format("{{.State.OOMKilled}}", &value).unwrap(),
            "true"
        );
        assert_eq!(apply_format("{{.State.Status}}", &value).unwrap(), "exited");
        assert_eq!(
            apply_format("{{json .State.Status}}", &value).unwrap(),
            "\"exited\""
        );
        assert!(apply_format("{{.Nope}}", &value).is_err());
    }
}
