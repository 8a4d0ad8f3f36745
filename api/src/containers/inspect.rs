//! `GET /containers/{id}/json`: the engine's inspect JSON, completed with the fields
//! Docker's clients index without a default. docker-py's `containers.run` reads
//! `HostConfig.LogConfig.Type` to know whether it may read the logs back; docker-compose
//! reads `Mounts`, `Config.Volumes`, `HostConfig.Binds` and the network aliases to decide
//! whether a container must be recreated. Only absent keys are filled: what the engine
//! says always wins.

use crate::error::ApiResult;
use crate::state::{blocking, Shared};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub async fn inspect(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let mut value = blocking(&state, move |s| Ok(s.containers.inspect(&id)?)).await?;
    complete(&mut value);
    Ok(Json(value).into_response())
}

/// Fills what dockerd always sends and hull's engine leaves out.
pub fn complete(inspect: &mut Value) {
    fill_missing(inspect, &defaults());
    add_short_id_aliases(inspect);
}

/// Docker's values for what a hull container does not have: no volumes or mounts, the
/// json-file log (hull's log is a file read by `logs`, as json-file is), no health check.
fn defaults() -> Value {
    json!({
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "Driver": "hull-layers",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "Mounts": [],
        "Config": {
            "Volumes": null,
            "OnBuild": null,
        },
        "HostConfig": {
            "Binds": null,
            "ContainerIDFile": "",
            "LogConfig": {"Type": "json-file", "Config": {}},
            "VolumeDriver": "",
            "VolumesFrom": null,
            "Mounts": null,
            "Tmpfs": null,
            "Devices": null,
            "IpcMode": "private",
            "PidMode": "",
            "UsernsMode": "",
            "ReadonlyRootfs": false,
            "SecurityOpt": null,
            "GroupAdd": null,
            "Ulimits": null,
            "ShmSize": 67_108_864,
            "Runtime": "hull",
            "Isolation": "",
            "CpuShares": 0,
            "NanoCpus": 0,
            "PidsLimit": null,
            "OomKillDisable": false,
            "ConsoleSize": [0, 0],
        },
        "GraphDriver": {"Name": "hull-layers", "Data": {}},
    })
}

/// Inserts every key of `defaults` that `value` lacks, recursing into objects both have.
pub fn fill_missing(value: &mut Value, defaults: &Value) {
    let (Value::Object(target), Value::Object(defaults)) = (value, defaults) else {
        return;
    };
    for (key, default) in defaults {
        match target.get_mut(key) {
            Some(existing) => fill_missing(existing, default),
            None => {
                target.insert(key.clone(), default.clone());
            }
        }
    }
}

/// dockerd lists a container's short id among its aliases on every user-defined network
/// (API < 1.45); docker-compose disconnects and reconnects a container whose aliases lack
/// it, which a stopped hull container survives but a needless round trip all the same.
fn add_short_id_aliases(inspect: &mut Value) {
    let Some(short) = inspect["Id"].as_str().and_then(|id| id.get(..12)) else {
        return;
    };
    let short = short.to_string();
    let Some(networks) = inspect["NetworkSettings"]["Networks"].as_object_mut() else {
        return;
    };
    for (name, endpoint) in networks.iter_mut() {
        if matches!(name.as_str(), "bridge" | "host" | "none") {
            continue;
        }
        let aliases = &mut endpoint["Aliases"];
        if aliases.is_null() {
            *aliases = json!([]);
        }
        if let Some(list) = aliases.as_array_mut() {
            if !list.iter().any(|a| a.as_str() == Some(short.as_str())) {
                list.push(json!(short));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_get_dockers_defaults_and_present_ones_stay() {
        let mut inspect = json!({
            "Id": "0123456789abcdef",
            "HostConfig": {"NetworkMode": "app_default", "Binds": ["/a:/b"]},
            "NetworkSettings": {"Networks": {
                "app_default": {"Aliases": ["web"]},
                "bridge": {"Aliases": null},
            }},
        });
        complete(&mut inspect);
        assert_eq!(inspect["HostConfig"]["LogConfig"]["Type"], "json-file");
        assert_eq!(inspect["HostConfig"]["Binds"], json!(["/a:/b"]));
        assert_eq!(inspect["HostConfig"]["NetworkMode"], "app_default");
        assert_eq!(inspect["Mounts"], json!([]));
        assert_eq!(
            inspect["NetworkSettings"]["Networks"]["app_default"]["Aliases"],
            json!(["web", "0123456789ab"])
        );
        assert!(inspect["NetworkSettings"]["Networks"]["bridge"]["Aliases"].is_null());
    }
}
