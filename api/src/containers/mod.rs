//! `/containers/...`: each handler parses, calls the engine's [`hull_engine::Containers`]
//! on the blocking pool and answers in Docker's shapes.

mod archive;
mod attach;
mod create_body;
mod inspect;
mod logs;
mod mounts_body;
mod summary;
mod wait;

pub use inspect::fill_missing;
pub use summary::unix_seconds;

use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hull_engine::containers::signal_number;
use serde_json::json;
use std::time::Duration;

/// The container routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/json", get(summary::list))
        .route("/containers/create", post(create))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect::inspect))
        .route("/containers/{id}/start", post(attach::start))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/wait", post(wait::wait))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/changes", get(changes))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}", delete(remove))
}

async fn create(
    State(state): State<Shared>,
    params: Params,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let body: create_body::CreateBody = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))?;
    let name = params
        .get("name")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let stdin_once = body.stdin_once && body.open_stdin;
    let mut request = body.into_request(name)?;
    let container = blocking(&state, move |s| {
        request.engine = s.engine;
        let container = s.containers.create(&request, &())?;
        if stdin_once {
            s.stdin_once
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(container.id.clone());
        }
        Ok(container)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": container.id, "Warnings": []})),
    )
        .into_response())
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `t` seconds (dockerd's stop/restart timeout).
fn grace(params: &Params) -> ApiResult<Option<Duration>> {
    Ok(params
        .number::<i64>("t")?
        .map(|t| Duration::from_secs(u64::try_from(t).unwrap_or(0))))
}

async fn stop(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let grace = grace(&params)?;
    blocking(&state, move |s| {
        let container = s.containers.find(&id)?;
        if !container.is_up() {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
        s.containers.stop(&id, grace)?;
        Ok(no_content())
    })
    .await
}

async fn kill(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let name = params.get("signal").unwrap_or("SIGKILL").to_string();
    let signal = signal_number(&name)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {name}")))?;
    blocking(&state, move |s| Ok(s.containers.kill(&id, signal)?)).await?;
    Ok(no_content())
}

async fn restart(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let grace = grace(&params)?;
    blocking(&state, move |s| Ok(s.containers.restart(&id, grace)?)).await?;
    Ok(no_content())
}

async fn pause(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(&state, move |s| Ok(s.containers.pause(&id)?)).await?;
    Ok(no_content())
}

async fn unpause(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(&state, move |s| Ok(s.containers.unpause(&id)?)).await?;
    Ok(no_content())
}

async fn rename(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let name = params
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("a new name is required (name=...)"))?
        .to_string();
    blocking(&state, move |s| Ok(s.containers.rename(&id, &name)?)).await?;
    Ok(no_content())
}

/// `h`/`w`: the client's terminal size, for the container's TTY.
pub fn terminal_size(params: &Params) -> ApiResult<(u16, u16)> {
    let rows = params.number::<u16>("h")?.unwrap_or(0);
    let cols = params.number::<u16>("w")?.unwrap_or(0);
    Ok((rows, cols))
}

async fn resize(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let (rows, cols) = terminal_size(&params)?;
    blocking(&state, move |s| Ok(s.containers.resize(&id, rows, cols)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn top(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let answer = blocking(&state, move |s| Ok(s.containers.top(&id)?)).await?;
    let titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
    let rows: Vec<Vec<String>> = answer
        .processes
        .iter()
        .map(|p| {
            let seconds = p.cpu_ms / 1000;
            vec![
                p.user.clone().unwrap_or_else(|| p.uid.to_string()),
                p.pid.to_string(),
                p.ppid.to_string(),
                "0".into(),
                String::new(),
                p.tty.clone(),
                format!(
                    "{:02}:{:02}:{:02}",
                    seconds / 3600,
                    seconds / 60 % 60,
                    seconds % 60
                ),
                if p.args.is_empty() {
                    format!("[{}]", p.comm)
                } else {
                    p.args.clone()
                },
            ]
        })
        .collect();
    Ok(Json(json!({"Titles": titles, "Processes": rows})).into_response())
}

/// Docker's change kinds: 0 modified, 1 added, 2 deleted.
async fn changes(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let changes = blocking(&state, move |s| Ok(s.containers.diff(&id)?)).await?;
    let list: Vec<serde_json::Value> = changes
        .iter()
        .map(|change| {
            let kind = match change.kind {
                'A' => 1,
                'D' => 2,
                _ => 0,
            };
            json!({"Path": change.path, "Kind": kind})
        })
        .collect();
    Ok(Json(list).into_response())
}

async fn remove(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let force = params.flag("force", false);
    blocking(&state, move |s| Ok(s.containers.remove(&id, force)?)).await?;
    Ok(no_content())
}

async fn prune(State(state): State<Shared>) -> ApiResult<Response> {
    let removed = blocking(&state, move |s| Ok(s.containers.prune()?)).await?;
    Ok(Json(json!({"ContainersDeleted": removed, "SpaceReclaimed": 0})).into_response())
}
