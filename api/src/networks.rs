//! `/networks/...` over the engine's networks.

use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hull_engine::containers::ConnectRequest;
use hull_engine::networks::{CreateNetwork, NetworkFilter};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The network routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))
}

async fn list(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let terms = params.filter_terms()?;
    let networks = blocking(&state, move |s| {
        let networks = s.networks()?;
        let filter = NetworkFilter::parse(&terms)?;
        networks
            .list(&filter)?
            .iter()
            .map(|n| Ok(document(&networks.inspect(&n.id)?)))
            .collect::<ApiResult<Vec<_>>>()
    })
    .await?;
    Ok(Json(networks).into_response())
}

async fn inspect(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let network = blocking(&state, move |s| Ok(s.networks()?.inspect(&id)?)).await?;
    Ok(Json(document(&network)).into_response())
}

/// Docker's document for a network. hull's own notes (`io.hull.*`, what the network's
/// containers reach beyond it) move from `Options` to `Hull`: Docker's `Options` holds
/// only the driver options a client gave, and docker-compose compares them with its
/// file's `driver_opts`, refusing `up` ("needs to be recreated") on any other key.
fn document(inspect: &impl serde::Serialize) -> Value {
    let mut value = serde_json::to_value(inspect).unwrap_or_default();
    let mut notes = Map::new();
    if let Some(options) = value.get_mut("Options").and_then(Value::as_object_mut) {
        let hull_keys: Vec<String> = options
            .keys()
            .filter(|key| key.starts_with("io.hull."))
            .cloned()
            .collect();
        for key in hull_keys {
            if let Some(note) = options.remove(&key) {
                notes.insert(key, note);
            }
        }
    }
    if !notes.is_empty() {
        value["Hull"] = Value::Object(notes);
    }
    value
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "IPAM")]
    ipam: Option<IpamBody>,
    check_duplicate: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamBody {
    config: Option<Vec<IpamConfigBody>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfigBody {
    subnet: String,
    gateway: String,
}

async fn create(State(state): State<Shared>, bytes: axum::body::Bytes) -> ApiResult<Response> {
    let request: CreateBody = body(&bytes)?;
    let _ = request.check_duplicate; // hull always refuses a duplicate name, as Docker 25+
    let pool = request
        .ipam
        .and_then(|ipam| ipam.config)
        .and_then(|configs| configs.into_iter().next())
        .unwrap_or_default();
    let gateway = match pool.gateway.as_str() {
        "" => None,
        text => Some(
            text.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid gateway address: {text}")))?,
        ),
    };
    let create = CreateNetwork {
        name: request.name,
        driver: (!request.driver.is_empty()).then_some(request.driver),
        subnet: (!pool.subnet.is_empty()).then_some(pool.subnet),
        gateway,
        internal: request.internal,
        labels: request.labels.unwrap_or_default(),
    };
    let network = blocking(&state, move |s| Ok(s.networks()?.create(&create)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": network.id, "Warning": ""})),
    )
        .into_response())
}

async fn remove(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(&state, move |s| Ok(s.networks()?.remove(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(state): State<Shared>) -> ApiResult<Response> {
    let removed = blocking(&state, |s| Ok(s.networks()?.prune()?)).await?;
    Ok(Json(json!({ "NetworksDeleted": removed })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointBody>,
    force: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointBody {
    aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
}

async fn connect(
    State(state): State<Shared>,
    Path(network): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult<Response> {
    let request: ConnectBody = body(&bytes)?;
    let endpoint = request.endpoint_config.unwrap_or_default();
    let ip = match endpoint.ipam_config.map(|c| c.ipv4_address) {
        Some(text) if !text.is_empty() => Some(
            text.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {text}")))?,
        ),
        _ => None,
    };
    let connect = ConnectRequest {
        aliases: endpoint.aliases.unwrap_or_default(),
        ip,
    };
    blocking(&state, move |s| {
        Ok(s.containers
            .connect_network(&network, &request.container, &connect)?)
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(state): State<Shared>,
    Path(network): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult<Response> {
    let request: ConnectBody = body(&bytes)?;
    let _ = request.force;
    blocking(&state, move |s| {
        Ok(s.containers
            .disconnect_network(&network, &request.container)?)
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hulls_notes_leave_the_driver_options() {
        let inspect = json!({"Name": "app_default", "Options": {
            "io.hull.network.outbound": "none", "com.docker.network.driver.mtu": "1500"}});
        let shown = document(&inspect);
        assert_eq!(
            shown["Options"],
            json!({"com.docker.network.driver.mtu": "1500"})
        );
        assert_eq!(shown["Hull"]["io.hull.network.outbound"], "none");
    }
}
