//! `inspect` of a container: Docker's JSON shape (`docker inspect`'s fields that hull has,
//! plus hull's own under "Hull").

use super::Containers;
use crate::container::{Container, Status};
use crate::error::Result;
use serde_json::{json, Value};

impl Containers {
    /// Docker's inspect JSON of the container `reference` names.
    pub fn inspect(&self, reference: &str) -> Result<Value> {
        let container = self.find(reference)?;
        let mut inspect = container_json(&container, &self.store.paths(&container.id).dir);
        inspect["Mounts"] =
            crate::volumes::mount_points(&container.config.mounts, &self.root.join("volumes"));
        if let Some(host_config) = inspect["HostConfig"].as_object_mut() {
            let config = &container.config;
            let tmpfs: serde_json::Map<String, Value> = config
                .mounts
                .iter()
                .filter(|m| m.kind == crate::volumes::MountKind::Tmpfs)
                .map(|m| (m.destination.clone(), json!(m.tmpfs_options.join(","))))
                .collect();
            if !tmpfs.is_empty() {
                host_config.insert("Tmpfs".into(), Value::Object(tmpfs));
            }
            if !config.volumes_from.is_empty() {
                host_config.insert("VolumesFrom".into(), json!(config.volumes_from));
            }
        }
        Ok(inspect)
    }
}

/// Docker's container inspect shape.
fn container_json(container: &Container, dir: &std::path::Path) -> Value {
    let state = &container.state;
    let process = &container.process;
    let config = &container.config;
    let (path, args) = container
        .command
        .split_first()
        .map(|(p, a)| (p.clone(), a.to_vec()))
        .unwrap_or_default();
    let mut inspect = json!({
        "Id": container.id,
        "Created": container.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": super::filter::state_name(container),
            // Docker's: a container waiting to be restarted still counts as running.
            "Running": container.is_up(),
            "Paused": container.is_paused(),
            "Restarting": state.status == Status::Restarting,
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
        "RestartCount": state.restart_count,
        "LogPath": dir.join("container.log"),
        "Config": {
            "Hostname": process.hostname,
            "Domainname": "",
            "User": process.user,
            "AttachStdin": container.options.interactive,
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": container.options.tty,
            "OpenStdin": container.options.interactive,
            "StdinOnce": container.options.interactive,
            "Env": process.env,
            // Containers made before the split was kept have only the whole argv.
            "Cmd": process.cmd.clone().or_else(|| {
                process.entrypoint.is_none().then(|| container.command.clone())
            }),
            "Image": container.image,
            "WorkingDir": process.working_dir,
            "Entrypoint": process.entrypoint,
            "Labels": container.config.labels,
            "ExposedPorts": container
                .config
                .exposed_ports
                .iter()
                .map(|port| (port.clone(), json!({})))
                .collect::<serde_json::Map<String, Value>>(),
            "StopSignal": container.config.stop_signal,
            "StopTimeout": container.config.stop_timeout,
        },
        "HostConfig": {
            "AutoRemove": container.options.auto_remove,
            "Memory": container.options.memory_limit,
            "MemorySwap": container.options.memory_swap,
            "CpuCount": container.options.cpus,
            "RestartPolicy": {
                "Name": config.restart_policy.name.name(),
                "MaximumRetryCount": config.restart_policy.maximum_retry_count,
            },
            "Init": config.init.then_some(true),
            "CapAdd": Some(&config.cap_add).filter(|c| !c.is_empty()),
            "CapDrop": Some(&config.cap_drop).filter(|c| !c.is_empty()),
            "Privileged": config.privileged,
            "ExtraHosts": Some(&config.extra_hosts).filter(|h| !h.is_empty()),
        },
        "Hull": {
            "Engine": container.options.engine,
            // The VM's memory: -m plus the guest's own (containers/memory.rs).
            "VmMemoryMiB": container.options.mem_mib,
            "VmLog": dir.join("vm.log"),
            "Supervisor": state.supervisor.map(|p| p.pid),
        },
    });
    if let Some(host_config) = inspect["HostConfig"].as_object_mut() {
        host_config.extend(super::inspect_network::host_config(container));
    }
    inspect["NetworkSettings"] = super::inspect_network::settings(container);
    inspect
}
