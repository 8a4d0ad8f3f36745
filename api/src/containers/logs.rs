//! `GET /containers/{id}/logs`: the container's log, framed as Docker frames it (raw for
//! a TTY), optionally followed; a client that leaves ends the follow.

use crate::error::{ApiError, ApiResult};
use crate::hijack::Framing;
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use hull_engine::containers::{LogStream, LogsRequest};
use std::sync::Arc;
use tokio::sync::mpsc;

pub async fn logs(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let (stdout, stderr) = (params.flag("stdout", false), params.flag("stderr", false));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match params.get("tail") {
        None | Some("" | "all") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("invalid tail {n:?}: a number or \"all\""))
        })?),
    };
    let request = LogsRequest {
        follow: params.flag("follow", false),
        tail,
        timestamps: params.flag("timestamps", false),
    };
    let container = blocking(&state, move |s| Ok(s.containers.find(&id)?)).await?;
    let framing = Framing::for_tty(container.options.tty);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let reader = Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let mut sink = |stream: LogStream, text: &str| {
            let (number, wanted) = match stream {
                LogStream::Stdout => (1, stdout),
                LogStream::Stderr => (2, stderr),
            };
            !wanted
                || tx
                    .blocking_send(framing.frame(number, text.as_bytes()))
                    .is_ok()
        };
        if let Err(err) = reader.containers.logs(&container.id, request, &mut sink) {
            tracing::debug!("logs of {} ended: {err}", container.id);
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = Body::from_stream(tokio_stream::StreamExt::map(
        stream,
        Ok::<_, std::io::Error>,
    ));
    Ok(Response::builder()
        .header("Content-Type", "application/vnd.docker.raw-stream")
        .body(body)
        .unwrap_or_default())
}
