//! `attach` and `start`. Docker clients attach before they start (`docker run`, `start -a`):
//! an attach to a container that does not run yet waits, and the start hands it the
//! session of the supervisor it starts for an attached client (output from the first byte).

use crate::error::ApiResult;
use crate::hijack::{self, Framing, Streams};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

pub async fn attach(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
    mut request: Request,
) -> ApiResult<Response> {
    let mut streams = Streams {
        stdin: params.flag("stdin", false),
        stdout: params.flag("stdout", false),
        stderr: params.flag("stderr", false),
        close_stdin_at_eof: false,
    };
    let upgrade =
        hijack::wants_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let (tx, rx) = oneshot::channel();
    let (tty, stdin_once) = blocking(&state, move |s| {
        let container = s.containers.find(&id)?;
        if container.is_running() {
            let _ = tx.send(s.containers.attach(&container.id)?);
        } else {
            s.waiting_attaches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(container.id.clone())
                .or_default()
                .push(tx);
        }
        let stdin_once = s
            .stdin_once
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&container.id);
        Ok((container.options.tty, stdin_once))
    })
    .await?;
    streams.close_stdin_at_eof = stdin_once;
    Ok(hijack::respond(
        upgrade,
        rx,
        Framing::for_tty(tty),
        streams,
        |_| {},
    ))
}

pub async fn start(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(&state, move |s| {
        let container = s.containers.find(&id)?;
        if container.is_up() {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
        let waiting = s
            .waiting_attaches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&container.id)
            .unwrap_or_default();
        let mut waiting = waiting.into_iter().filter(|tx| !tx.is_closed());
        match waiting.next() {
            Some(first) => {
                let _ = first.send(s.containers.start_and_attach(&container)?);
                for other in waiting {
                    if let Ok(session) = s.containers.attach(&container.id) {
                        let _ = other.send(session);
                    }
                }
            }
            None => {
                s.containers.start(&container.id)?;
            }
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}
