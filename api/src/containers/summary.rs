//! `GET /containers/json`: Docker's container summaries (what `docker ps` and docker-py's
//! `containers.list` read), with `all`, `limit` and `filters`.

use crate::error::ApiResult;
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hull_engine::container::state::parse_time;
use hull_engine::container::{status, Container};
use hull_engine::containers::filter::{state_name, ContainerFilter};
use hull_engine::containers::inspect_network;
use serde_json::{json, Value};

pub async fn list(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let terms = params.filter_terms()?;
    let all = params.flag("all", false);
    let limit = params.number::<i64>("limit")?.filter(|n| *n > 0);
    let summaries = blocking(&state, move |s| {
        let filter = ContainerFilter::parse(&terms)?;
        let everything = s.containers.list(true)?;
        let mut shown: Vec<Container> = filter
            .apply(everything)
            .into_iter()
            .filter(|c| all || limit.is_some() || filter.wants_stopped() || c.is_up())
            .collect();
        if let Some(limit) = limit {
            shown.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(shown.iter().map(summary).collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(summaries).into_response())
}

/// Unix seconds of an RFC 3339 time (0 if it does not parse).
pub fn unix_seconds(rfc3339: &str) -> i64 {
    parse_time(rfc3339)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn summary(container: &Container) -> Value {
    let settings = inspect_network::settings(container);
    let host_config = inspect_network::host_config(container);
    json!({
        "Id": container.id,
        "Names": [format!("/{}", container.name)],
        "Image": container.image,
        "ImageID": container.image_id,
        "Command": container.command.join(" "),
        "Created": unix_seconds(&container.created),
        "Ports": ports(container),
        "Labels": container.config.labels,
        "State": state_name(container),
        "Status": status::status_text(container),
        "HostConfig": {"NetworkMode": host_config.get("NetworkMode").cloned().unwrap_or(json!("bridge"))},
        "NetworkSettings": {"Networks": settings.get("Networks").cloned().unwrap_or(json!({}))},
        "Mounts": [],
    })
}

/// Published ports while it runs, and exposed ones without a host side.
fn ports(container: &Container) -> Vec<Value> {
    let published = container
        .state
        .network
        .as_ref()
        .filter(|_| container.is_up())
        .map(|network| network.ports.clone())
        .unwrap_or_default();
    let mut ports: Vec<Value> = published
        .iter()
        .map(|p| {
            json!({"IP": p.host_ip, "PrivatePort": p.container_port,
                   "PublicPort": p.host_port, "Type": p.protocol})
        })
        .collect();
    for exposed in &container.config.exposed_ports {
        let (port, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
        let port: u16 = port.parse().unwrap_or(0);
        if !published
            .iter()
            .any(|p| p.container_port == port && p.protocol == protocol)
        {
            ports.push(json!({"PrivatePort": port, "Type": protocol}));
        }
    }
    ports
}
