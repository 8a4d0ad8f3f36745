//! `POST /containers/{id}/wait?condition=not-running|next-exit|removed`: the answer's
//! headers go out at once (the docker CLI waits for them before it starts the container),
//! the status follows when the condition is met. The engine's event journal says when: a
//! `die` event carries the exit code, `destroy` means removed.

use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, AppState, Shared};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;
use std::time::Duration;

/// How often the journal is read: the client's exit waits on this answer.
const POLL: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

pub async fn wait(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let condition = match params.get("condition").unwrap_or("not-running") {
        "" | "not-running" => Condition::NotRunning,
        "next-exit" => Condition::NextExit,
        "removed" => Condition::Removed,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: {other:?}: use not-running, next-exit or removed"
            )))
        }
    };
    // Found (or a 404) before the headers go out; the journal is read from this moment.
    let (container, cursor) = blocking(&state, move |s| {
        let cursor = s.containers.store().events().cursor_at_end();
        Ok((s.containers.find(&id)?, cursor))
    })
    .await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let waiter = std::sync::Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let answer = match wait_for(&waiter, &container, cursor, condition) {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(message) => json!({"StatusCode": -1, "Error": {"Message": message}}),
        };
        let _ = tx.send(answer.to_string());
    });
    let answer = async move { rx.await.map_err(std::io::Error::other) };
    let body = Body::from_stream(futures_util::stream::once(answer));
    Ok(Response::builder()
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_default())
}

/// Blocks until `condition` holds for `container`; its exit code.
fn wait_for(
    state: &AppState,
    container: &hull_engine::container::Container,
    mut cursor: hull_engine::system::events::EventCursor,
    condition: Condition,
) -> Result<i32, String> {
    let id = &container.id;
    let mut exit_code = container.state.exit_code;
    if condition == Condition::NotRunning && !container.is_up() {
        return Ok(exit_code);
    }
    let events = state.containers.store().events();
    let mut died = false;
    loop {
        let new = events.read_new(&mut cursor).map_err(|e| e.to_string())?;
        for event in new.iter().filter(|e| &e.actor.id == id) {
            match event.action.as_str() {
                "die" => {
                    died = true;
                    exit_code = event
                        .actor
                        .attributes
                        .get("exitCode")
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(exit_code);
                    if condition != Condition::Removed {
                        return Ok(exit_code);
                    }
                }
                "destroy" if condition == Condition::Removed => return Ok(exit_code),
                _ => {}
            }
        }
        // Ended without a journal entry (its supervisor was killed): the store knows.
        match state.containers.find(id) {
            Err(_) if condition == Condition::Removed || died => return Ok(exit_code),
            Err(err) => return Err(err.to_string()),
            Ok(now) if !now.is_up() && condition == Condition::NotRunning => {
                return Ok(now.state.exit_code)
            }
            Ok(_) => {}
        }
        std::thread::sleep(POLL);
    }
}
