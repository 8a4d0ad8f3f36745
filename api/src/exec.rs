//! Exec instances (`docker exec`): created with their command, started once (detached, or
//! on a hijacked connection), inspected for their exit code. They live in the service's
//! memory, as dockerd's do.

use crate::containers::terminal_size;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, Framing, Streams};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hull_engine::containers::{SessionEvent, SessionInput};
use hull_protocol::ExecRequest;
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One exec instance.
pub struct ExecInstance {
    id: String,
    container_id: String,
    request: ExecRequest,
    streams: Streams,
    state: Mutex<ExecState>,
}

#[derive(Default)]
struct ExecState {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    input: Option<SessionInput>,
    ended_at: Option<Instant>,
}

/// How long an ended exec instance stays inspectable (its client reads the exit code at
/// once; dockerd drops them with their container).
const KEEP_ENDED: Duration = Duration::from_secs(300);

impl ExecInstance {
    fn lock(&self) -> std::sync::MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ended(&self, status: Option<i32>) {
        let mut state = self.lock();
        state.running = false;
        state.exit_code = Some(status.unwrap_or(-1));
        state.input = None;
        state.ended_at = Some(Instant::now());
    }

    fn expired(&self) -> bool {
        self.lock()
            .ended_at
            .is_some_and(|t| t.elapsed() > KEEP_ENDED)
    }
}

/// The exec routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    cmd: Vec<String>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    privileged: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
}

fn parse_json<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))
}

async fn create(
    State(state): State<Shared>,
    Path(container): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let body: CreateBody = parse_json(&body)?;
    if body.cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    if body.privileged {
        return Err(ApiError::bad_request(
            "privileged exec is not supported: a hull exec runs with the container's own privileges inside its VM",
        ));
    }
    let container = blocking(&state, move |s| {
        let found = s.containers.find(&container)?;
        if !found.is_running() {
            return Err(hull_engine::Error::ExecNotRunning(found.id).into());
        }
        Ok(found)
    })
    .await?;
    let instance = Arc::new(ExecInstance {
        id: hull_engine::container::ids::new_id()?,
        container_id: container.id,
        request: ExecRequest {
            args: body.cmd,
            env: body.env.unwrap_or_default(),
            cwd: (!body.working_dir.is_empty()).then_some(body.working_dir),
            user: (!body.user.is_empty()).then_some(body.user),
            tty: body.tty,
            stdin: body.attach_stdin,
            console_size: None,
        },
        streams: Streams {
            stdin: body.attach_stdin,
            stdout: body.attach_stdout,
            stderr: body.attach_stderr,
            close_stdin_at_eof: true,
        },
        state: Mutex::default(),
    });
    let id = instance.id.clone();
    let mut execs = state.execs.lock().unwrap_or_else(|e| e.into_inner());
    execs.retain(|_, exec| !exec.expired());
    execs.insert(id.clone(), instance);
    drop(execs);
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}

fn find(state: &Shared, id: &str) -> ApiResult<Arc<ExecInstance>> {
    state
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

async fn start(
    State(state): State<Shared>,
    Path(id): Path<String>,
    mut request: Request,
) -> ApiResult<Response> {
    let instance = find(&state, &id)?;
    let upgrade =
        hijack::wants_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .map_err(|err| ApiError::bad_request(format!("cannot read the body: {err}")))?;
    let start: StartBody = parse_json(&body)?;
    {
        let mut exec = instance.lock();
        if exec.started {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("exec {id} has already been started"),
            ));
        }
        exec.started = true;
        exec.running = true;
    }
    if start.detach {
        let session = open(&state, &instance).await?;
        let detached = Arc::clone(&instance);
        tokio::task::spawn_blocking(move || {
            let mut session = session;
            while let Some(event) = session.next_event() {
                if let SessionEvent::Exit(status) = event {
                    return detached.ended(Some(status));
                }
            }
            detached.ended(None);
        });
        return Ok(StatusCode::OK.into_response());
    }
    // Refusals (a container that stopped or paused since the create) are still answers.
    let container = instance.container_id.clone();
    blocking(&state, move |s| {
        let found = s.containers.find(&container)?;
        if !found.is_running() {
            return Err(hull_engine::Error::ExecNotRunning(found.name).into());
        }
        if found.is_paused() {
            return Err(hull_engine::Error::Paused(found.id, "exec").into());
        }
        Ok(())
    })
    .await
    .inspect_err(|_| instance.ended(None))?;
    // The process starts once the answer is on its way, as dockerd starts it after the
    // hijack: docker-py reads the hijacked socket past its HTTP reader's buffer, so output
    // that reaches it in one read with the 101's headers is lost (docker/docker-py#3332).
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (opener, opener_state) = (Arc::clone(&instance), Arc::clone(&state));
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        if let Ok(session) = open(&opener_state, &opener).await {
            let _ = tx.send(session);
        }
    });
    let ended = Arc::clone(&instance);
    Ok(hijack::respond(
        upgrade,
        rx,
        Framing::for_tty(instance.request.tty),
        instance.streams,
        move |status| ended.ended(status),
    ))
}

/// Opens the exec session of `instance` in its container (ended, with no status, when
/// that fails).
async fn open(
    state: &Shared,
    instance: &Arc<ExecInstance>,
) -> ApiResult<hull_engine::containers::Session> {
    let opener = Arc::clone(instance);
    let session = blocking(state, move |s| {
        Ok(s.containers.exec(&opener.container_id, &opener.request)?)
    })
    .await
    .inspect_err(|err| {
        tracing::info!("exec {} did not start: {}", instance.id, err.message);
        instance.ended(None);
    })?;
    instance.lock().input = Some(session.input());
    Ok(session)
}

async fn resize(
    State(state): State<Shared>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let instance = find(&state, &id)?;
    let (rows, cols) = terminal_size(&params)?;
    let input = instance.lock().input.clone();
    match input {
        Some(input) => {
            tokio::task::spawn_blocking(move || input.resize(rows, cols))
                .await
                .ok();
            Ok(StatusCode::OK.into_response())
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("exec {id} is not running"),
        )),
    }
}

async fn inspect(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let instance = find(&state, &id)?;
    let exec = instance.lock();
    let (entrypoint, arguments) = instance
        .request
        .args
        .split_first()
        .map(|(first, rest)| (first.clone(), rest.to_vec()))
        .unwrap_or_default();
    Ok(Json(json!({
        "ID": instance.id,
        "Running": exec.running,
        "ExitCode": exec.exit_code,
        "ProcessConfig": {
            "tty": instance.request.tty,
            "entrypoint": entrypoint,
            "arguments": arguments,
            "privileged": false,
            "user": instance.request.user.clone().unwrap_or_default(),
        },
        "OpenStdin": instance.streams.stdin,
        "OpenStdout": instance.streams.stdout,
        "OpenStderr": instance.streams.stderr,
        "CanRemove": !exec.running && exec.started,
        "ContainerID": instance.container_id,
        "DetachKeys": "",
        "Pid": 0,
    }))
    .into_response())
}
