//! `HEAD|GET|PUT /containers/{id}/archive` (`docker cp`): the engine's copy, which reads
//! and writes the container's files only inside its VM (a helper VM for a stopped one);
//! a tar from the guest or from the client goes through the engine's checked tar code.

use crate::channel_io::{ChannelReader, ChannelWriter};
use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use hull_engine::containers::{CopyOptions, CopySource, CopyTarget};
use hull_protocol::PathStat;
use serde_json::json;
use tokio::sync::mpsc;

/// The header Docker's client reads a path's stat from.
const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// Go's `os.FileMode` of a `st_mode` (what Docker's client decodes).
fn go_file_mode(mode: u32) -> u32 {
    let mut go = mode & 0o777;
    go |= match mode & 0o170_000 {
        0o040_000 => 1 << 31,
        0o120_000 => 1 << 27,
        0o010_000 => 1 << 25,
        0o140_000 => 1 << 24,
        0o060_000 => 1 << 26,
        0o020_000 => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if mode & 0o4000 != 0 {
        go |= 1 << 23;
    }
    if mode & 0o2000 != 0 {
        go |= 1 << 22;
    }
    if mode & 0o1000 != 0 {
        go |= 1 << 20;
    }
    go
}

fn stat_header(stat: &PathStat) -> HeaderValue {
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(stat.mtime).unwrap_or(0));
    let value = json!({
        "name": stat.name,
        "size": stat.size,
        "mode": go_file_mode(stat.mode),
        "mtime": humantime::format_rfc3339_seconds(mtime).to_string(),
        "linkTarget": stat.link_target,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.to_string());
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn path_param(params: &Params) -> ApiResult<String> {
    params
        .get("path")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("path must be given (path=...)"))
}

async fn stat(state: &Shared, id: String, path: String) -> ApiResult<PathStat> {
    blocking(state, move |s| Ok(s.containers.stat_path(&id, &path)?)).await
}

pub async fn head(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let stat = stat(&state, id, path_param(&params)?).await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(STAT_HEADER, stat_header(&stat));
    Ok(response)
}

pub async fn get(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let stat = stat(&state, id.clone(), path.clone()).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let copier = std::sync::Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx);
        let options = CopyOptions::default();
        if let Err(err) =
            copier
                .containers
                .copy_from_container(&id, &path, CopyTarget::Stream(&mut out), options)
        {
            tracing::warn!("copy out of {id}:{path} failed: {err}");
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = Body::from_stream(tokio_stream::StreamExt::map(
        stream,
        Ok::<_, std::io::Error>,
    ));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        "Content-Type",
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(STAT_HEADER, stat_header(&stat));
    Ok(response)
}

pub async fn put(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let options = CopyOptions {
        archive: params.flag("copyUIDGID", false),
        follow_link: false,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let copy = blocking(&state, move |s| {
        let mut input = ChannelReader::new(rx);
        s.containers
            .copy_to_container(&id, CopySource::Stream(&mut input), &path, options)?;
        Ok(())
    });
    let mut body = request.into_body().into_data_stream();
    let feed = async move {
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            let Ok(chunk) = chunk else { break };
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    };
    let ((), copied) = tokio::join!(feed, copy);
    copied?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_gos_file_modes() {
        assert_eq!(go_file_mode(0o040_755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o100_644), 0o644);
        assert_eq!(go_file_mode(0o120_777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104_755), (1 << 23) | 0o755);
    }
}
