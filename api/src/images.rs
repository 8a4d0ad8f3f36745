//! `/images/...`: list, inspect, history, tag, remove, prune, save (`get`), load; `create`
//! (a pull) and `push` are `registry`'s. Image names may hold slashes, so the per-image
//! routes are one wildcard whose last segment says what is asked.

use crate::channel_io::ChannelWriter;
use crate::containers::{fill_missing, unix_seconds};
use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use hull_engine::images::{ImageFilter, Removed};
use serde_json::{json, Value};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// The largest image archive `load` accepts.
const LOAD_LIMIT: u64 = 32 << 30;

/// The image routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/get", get(save))
        .route("/images/load", post(load))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route("/auth", post(crate::registry::auth))
        .route("/commit", post(commit))
        .route("/images/{*rest}", any(per_image))
}

/// `/images/NAME/json|history|tag|get` and `DELETE /images/NAME`.
async fn per_image(
    State(state): State<Shared>,
    Path(rest): Path<String>,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let method = request.method().clone();
    if method == Method::DELETE {
        return remove(state, rest, params).await;
    }
    let (name, action) = rest
        .rsplit_once('/')
        .ok_or_else(|| ApiError::not_found("page not found"))?;
    let name = name.to_string();
    match (method, action) {
        (Method::GET, "json") => {
            let mut value = blocking(&state, move |s| Ok(s.images()?.inspect(&name)?)).await?;
            complete_inspect(&mut value);
            Ok(Json(value).into_response())
        }
        (Method::GET, "history") => history(state, name).await,
        (Method::POST, "tag") => tag(state, name, params).await,
        (Method::GET, "get") => save_names(state, vec![name]).await,
        (Method::POST, "push") => {
            crate::registry::push(state, name, params, request.headers().clone()).await
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Fills what dockerd's image inspect always has and the store's leaves out:
/// docker-compose reads `ContainerConfig.Volumes` of every service's image, docker-py
/// `Config.Labels`; an absent key is a `KeyError` in those clients, an empty one is not.
fn complete_inspect(inspect: &mut Value) {
    let config = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "AttachStdout": false, "AttachStderr": false, "ExposedPorts": null, "Tty": false,
        "OpenStdin": false, "StdinOnce": false, "Env": null, "Cmd": null, "Image": "",
        "Volumes": null, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
        "Labels": null,
    });
    let defaults = json!({
        "Parent": "",
        "Comment": "",
        "Container": "",
        "DockerVersion": "",
        "Author": "",
        "VirtualSize": inspect["Size"].clone(),
        "Config": config.clone(),
        "ContainerConfig": config,
        "GraphDriver": {"Name": "hull-layers", "Data": {}},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    fill_missing(inspect, &defaults);
}

/// `docker commit`: `container`, `repo`/`tag`, `comment`, `author`, `pause`, `changes`
/// (repeated); the body (a container config to start from) is not used: hull takes the
/// container's own, as Docker does when the body is empty.
async fn commit(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let container = params
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("a container must be given (container=...)"))?
        .to_string();
    let repository = match (
        params.get("repo").filter(|r| !r.is_empty()),
        params.get("tag"),
    ) {
        (Some(repo), Some(tag)) if !tag.is_empty() => Some(format!("{repo}:{tag}")),
        (Some(repo), _) => Some(repo.to_string()),
        (None, _) => None,
    };
    let request = hull_engine::containers::CommitRequest {
        repository,
        message: params
            .get("comment")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        author: params
            .get("author")
            .filter(|a| !a.is_empty())
            .map(str::to_string),
        changes: params
            .all("changes")
            .iter()
            .flat_map(|c| c.lines().map(str::to_string).collect::<Vec<_>>())
            .filter(|c| !c.trim().is_empty())
            .collect(),
        pause: params.flag("pause", true),
    };
    let image = blocking(&state, move |s| {
        Ok(s.containers.commit(&container, &request)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": image.id }))).into_response())
}

async fn list(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let terms = params.filter_terms()?;
    let all = params.flag("all", false);
    let rows = blocking(&state, move |s| {
        let filter = ImageFilter::parse(&terms, None)?;
        Ok(s.images()?.list_matching(&filter, all)?)
    })
    .await?;
    // One summary per image, all its tags together.
    let mut images: Vec<(String, Value)> = Vec::new();
    for row in rows {
        let tag = (row.repository != "<none>").then(|| format!("{}:{}", row.repository, row.tag));
        if let Some((_, summary)) = images.iter_mut().find(|(id, _)| *id == row.id) {
            if let (Some(tag), Some(tags)) = (tag, summary["RepoTags"].as_array_mut()) {
                tags.push(json!(tag));
            }
            continue;
        }
        let summary = json!({
            "Id": row.id,
            "ParentId": "",
            "RepoTags": tag.into_iter().collect::<Vec<_>>(),
            "RepoDigests": [],
            "Created": row.created.as_deref().map_or(0, unix_seconds),
            "Size": row.size,
            "SharedSize": -1,
            "VirtualSize": row.size,
            "Labels": {},
            "Containers": -1,
        });
        images.push((row.id, summary));
    }
    Ok(Json(images.into_iter().map(|(_, s)| s).collect::<Vec<_>>()).into_response())
}

async fn history(state: Shared, name: String) -> ApiResult<Response> {
    let entries = blocking(&state, move |s| Ok(s.images()?.history(&name)?)).await?;
    let rows: Vec<Value> = entries
        .iter()
        .map(|entry| {
            json!({
                "Id": if entry.layer.is_empty() { "<missing>" } else { entry.layer.as_str() },
                "Created": entry.created.as_deref().map_or(0, unix_seconds),
                "CreatedBy": entry.created_by,
                "Tags": null,
                "Size": entry.size,
                "Comment": entry.comment,
            })
        })
        .collect();
    Ok(Json(rows).into_response())
}

async fn tag(state: Shared, name: String, params: Params) -> ApiResult<Response> {
    let repo = params
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name must be given (repo=...)"))?;
    let target = match params.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_string(),
    };
    blocking(&state, move |s| Ok(s.images()?.tag(&name, &target)?)).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn remove(state: Shared, name: String, params: Params) -> ApiResult<Response> {
    let force = params.flag("force", false);
    let removed = blocking(&state, move |s| Ok(s.images()?.remove(&name, force)?)).await?;
    Ok(Json(removed_json(&removed)).into_response())
}

fn removed_json(removed: &[Removed]) -> Vec<Value> {
    removed
        .iter()
        .map(|change| match change {
            Removed::Untagged(name) => json!({ "Untagged": name }),
            Removed::Deleted(id) => json!({ "Deleted": id }),
        })
        .collect()
}

async fn prune(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let all = params
        .filter_terms()?
        .iter()
        .any(|t| t == "dangling=false" || t == "dangling=0");
    let report = blocking(&state, move |s| Ok(s.images()?.prune(all)?)).await?;
    Ok(Json(json!({
        "ImagesDeleted": removed_json(&report.removed),
        "SpaceReclaimed": report.reclaimed_bytes,
    }))
    .into_response())
}

async fn save(State(state): State<Shared>, params: Params) -> ApiResult<Response> {
    let names = params.all("names");
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given (names=...)"));
    }
    save_names(state, names).await
}

async fn save_names(state: Shared, names: Vec<String>) -> ApiResult<Response> {
    // Every name is checked first, so a typo is a 404 rather than a truncated archive.
    let checked = names.clone();
    blocking(&state, move |s| {
        let images = s.images()?;
        for name in &checked {
            images.inspect(name)?;
        }
        Ok(())
    })
    .await?;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let writer = std::sync::Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let references: Vec<&str> = names.iter().map(String::as_str).collect();
        let result = writer.images().map_err(|e| e.message).and_then(|images| {
            images
                .save_to_writer(&references, &mut ChannelWriter(tx))
                .map_err(|e| e.to_string())
        });
        if let Err(err) = result {
            tracing::warn!("image save failed: {err}");
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = Body::from_stream(tokio_stream::StreamExt::map(
        stream,
        Ok::<_, std::io::Error>,
    ));
    Ok(Response::builder()
        .header("Content-Type", "application/x-tar")
        .body(body)
        .unwrap_or_default())
}

/// `docker load`: the archive is spooled to a file under the root (the store reads it
/// twice), checked by the store as any archive is, then removed.
async fn load(State(state): State<Shared>, request: Request) -> ApiResult<Response> {
    let spool = upload_path(&state, "load", "tar").await?;
    let copied = spool_body(request, &spool, LOAD_LIMIT, "image archives").await;
    let loaded = match copied {
        Ok(()) => {
            let path = spool.clone();
            blocking(&state, move |s| Ok(s.images()?.load(&path, &())?)).await
        }
        Err(err) => Err(err),
    };
    let _ = tokio::fs::remove_file(&spool).await;
    let mut lines = String::new();
    for image in loaded? {
        let shown = if image.references.is_empty() {
            vec![format!("Loaded image ID: {}", image.id)]
        } else {
            image
                .references
                .iter()
                .map(|r| format!("Loaded image: {r}"))
                .collect()
        };
        for line in shown {
            lines.push_str(&json!({ "stream": format!("{line}\n") }).to_string());
            lines.push('\n');
        }
    }
    Ok(Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from(lines))
        .unwrap_or_default())
}

/// A new file name in the service's upload directory (not the store's tmp/: opening the
/// store clears that of other processes' files).
pub(crate) async fn upload_path(state: &Shared, what: &str, extension: &str) -> ApiResult<PathBuf> {
    let spool_dir = state.containers.root().join("api-uploads");
    tokio::fs::create_dir_all(&spool_dir).await?;
    Ok(spool_dir.join(format!("api-{what}-{}.{extension}", unique())))
}

/// Writes the request's body to `path`, refusing more than `limit` bytes (`what` names
/// them in the error).
pub(crate) async fn spool_body(
    request: Request,
    path: &std::path::Path,
    limit: u64,
    what: &str,
) -> ApiResult<()> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut body = request.into_body().into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read the {what}: {e}")))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{what} over {limit} bytes are refused"),
            ));
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(())
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `docker pull` (`fromImage`), or an import (`fromSrc`, not supported).
async fn create(
    State(state): State<Shared>,
    params: Params,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if params.get("fromImage").is_none_or(str::is_empty) {
        return Err(ApiError::not_implemented(
            "importing (fromSrc) is not supported by hull: use docker load",
        ));
    }
    crate::registry::pull(state, params, headers).await
}
