//! `/volumes/...` over the engine's volumes (Docker's documents, API 1.41: `prune` removes
//! every unused volume unless `filters` says `all=false`).

use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hull_engine::volumes::{CreateVolume, VolumeFilter};
use hull_engine::Volumes;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// The volume routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

fn volumes(state: &crate::state::AppState) -> ApiResult<Volumes> {
    Ok(Volumes::open(state.containers.root())?)
}

async fn list(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let terms = params.filter_terms()?;
    let found = blocking(&state, move |s| {
        Ok(volumes(s)?.list(&VolumeFilter::parse(&terms)?)?)
    })
    .await?;
    Ok(Json(json!({"Volumes": found, "Warnings": null})).into_response())
}

async fn inspect(State(state): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    let volume = blocking(&state, move |s| Ok(volumes(s)?.get(&name)?)).await?;
    Ok(Json(volume).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

async fn create(State(state): State<Shared>, bytes: axum::body::Bytes) -> ApiResult<Response> {
    let body: CreateBody = if bytes.is_empty() {
        CreateBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))?
    };
    let request = CreateVolume {
        name: (!body.name.is_empty()).then_some(body.name),
        labels: body.labels.unwrap_or_default(),
        options: body.driver_opts.unwrap_or_default(),
        driver: (!body.driver.is_empty()).then_some(body.driver),
    };
    let volume = blocking(&state, move |s| Ok(volumes(s)?.create(&request)?)).await?;
    Ok((StatusCode::CREATED, Json(volume)).into_response())
}

async fn remove(
    State(state): State<Shared>,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let force = params.flag("force", false);
    blocking(&state, move |s| Ok(volumes(s)?.remove(&name, force)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let terms = params.filter_terms()?;
    let all = !terms.iter().any(|t| t == "all=false" || t == "all=0");
    let (removed, reclaimed) = blocking(&state, move |s| Ok(volumes(s)?.prune(all)?)).await?;
    Ok(Json(json!({"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})).into_response())
}
