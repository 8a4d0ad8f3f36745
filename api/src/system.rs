//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, Shared};
use crate::version::API_VERSION;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use hull_engine::host::HostFacts;
use hull_engine::system::events::{parse_timestamp, EventFilter};
use hull_engine::system::{disk_usage, version};
use serde_json::json;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// The system routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        .route("/system/df", get(df))
}

/// The headers clients negotiate the API version from.
fn with_api_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("API-Version", API_VERSION),
        ("Docker-Experimental", "false"),
        ("OSType", "linux"),
        ("Builder-Version", "1"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    let mut response = body.into_response();
    response.headers_mut().insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    with_api_headers(response)
}

async fn version() -> ApiResult<Response> {
    let report = tokio::task::spawn_blocking(|| version::report(&HostFacts::detect()))
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut server = serde_json::to_value(&report.server).unwrap_or_default();
    server["GitCommit"] = json!("hull");
    server["BuildTime"] = json!("");
    // The docker CLI prints the Engine component's details.
    let details = json!({
        "ApiVersion": report.server.api_version,
        "MinAPIVersion": report.server.min_api_version,
        "GitCommit": "hull",
        "GoVersion": report.server.go_version,
        "Os": report.server.os,
        "Arch": report.server.arch,
        "KernelVersion": report.server.kernel_version,
        "Experimental": "false",
        "BuildTime": "",
    });
    if let Some(components) = server["Components"].as_array_mut() {
        if let Some(engine) = components.iter_mut().find(|c| c["Name"] == "Engine") {
            engine["Details"] = details;
        }
    }
    Ok(with_api_headers(Json(server).into_response()))
}

async fn info(State(state): State<Shared>) -> ApiResult<Response> {
    let value = blocking(&state, |s| {
        let containers = s.containers.list(true)?;
        let running = containers.iter().filter(|c| c.is_running() && !c.is_paused()).count();
        let paused = containers.iter().filter(|c| c.is_paused()).count();
        let images = s.images()?.list()?;
        let mut image_ids: Vec<&str> = images.iter().map(|i| i.id.as_str()).collect();
        image_ids.dedup();
        let facts = HostFacts::detect();
        let report = version::report(&facts);
        let uname = nix::sys::utsname::uname().ok();
        let text = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname.as_ref().map(|u| f(u).to_string_lossy().into_owned()).unwrap_or_default()
        };
        let memory = nix::sys::sysinfo::sysinfo()
            .map(|i| i.ram_total())
            .unwrap_or(0);
        let mut value = json!({
            "ID": "hull",
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": containers.len() - running - paused,
            "Images": image_ids.len(),
            "Driver": "hull-layers",
            "DriverStatus": [["Backing", "one read-only block image per layer, overlayfs in each VM"]],
            "Plugins": {"Volume": [], "Network": ["bridge", "null"], "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": true,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "PidsLimit": true,
            "OomKillDisable": false,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": humantime_now(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "none",
            "CgroupVersion": "2",
            "NEventsListener": 0,
        });
        let more = json!({
            "KernelVersion": text(nix::sys::utsname::UtsName::release),
            "OperatingSystem": "hull (every container in its own KVM virtual machine)",
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": text(nix::sys::utsname::UtsName::machine),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
            "NCPU": std::thread::available_parallelism().map_or(1, usize::from),
            "MemTotal": memory,
            "DockerRootDir": s.containers.root(),
            "Name": text(nix::sys::utsname::UtsName::nodename),
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": report.server.version,
            "Runtimes": {"hull-vmm": {"path": "hull-vmm"}, "qemu": {"path": "qemu-system-x86_64"}},
            "DefaultRuntime": match facts.default_engine().0 {
                hull_engine::host::EngineKind::Hull => "hull-vmm",
                _ => "qemu",
            },
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "hull-init",
            "SecurityOptions": ["name=kvm"],
            "Warnings": [],
        });
        if let (Some(all), serde_json::Value::Object(more)) = (value.as_object_mut(), more) {
            all.extend(more);
        }
        Ok(value)
    })
    .await?;
    Ok(Json(value).into_response())
}

fn humantime_now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

async fn events(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let now = SystemTime::now();
    let time = |key: &str| -> ApiResult<Option<i64>> {
        params
            .get(key)
            .filter(|t| !t.is_empty())
            .map(|t| parse_timestamp(t, now).map_err(ApiError::bad_request))
            .transpose()
    };
    let (since, until) = (time("since")?, time("until")?);
    let filter = EventFilter::parse(&params.filter_terms()?).map_err(ApiError::bad_request)?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let follower = std::sync::Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let journal = follower.containers.store().events();
        let result = journal.follow(since, until, &filter, |event| {
            let mut line = serde_json::to_vec(event).unwrap_or_default();
            line.push(b'\n');
            tx.blocking_send(Bytes::from(line)).is_ok()
        });
        if let Err(err) = result {
            tracing::debug!("event stream ended: {err}");
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = Body::from_stream(tokio_stream::StreamExt::map(
        stream,
        Ok::<_, std::io::Error>,
    ));
    Ok(Response::builder()
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_default())
}

async fn df(State(state): State<Shared>) -> ApiResult<Response> {
    let value = blocking(&state, |s| {
        let usage = disk_usage::disk_usage(&s.images()?, &s.containers)?;
        let images: Vec<serde_json::Value> = s
            .images()?
            .list()?
            .iter()
            .map(|row| {
                json!({"Id": row.id, "RepoTags": [format!("{}:{}", row.repository, row.tag)],
                       "Size": row.size, "SharedSize": 0, "Containers": 0,
                       "Created": row.created.as_deref().map_or(0, crate::containers::unix_seconds)})
            })
            .collect();
        let containers: Vec<serde_json::Value> = s
            .containers
            .list(true)?
            .iter()
            .map(|c| {
                json!({"Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image,
                       "State": hull_engine::containers::filter::state_name(c),
                       "SizeRw": 0, "SizeRootFs": 0})
            })
            .collect();
        Ok(json!({
            "LayersSize": usage.images.size,
            "Images": images,
            "Containers": containers,
            "Volumes": [],
            "BuildCache": [],
        }))
    })
    .await?;
    Ok(Json(value).into_response())
}
