//! Registries through the API: `POST /images/create` (docker pull), `POST /images/NAME/push`
//! and `POST /auth` (docker login). Pull and push stream Docker's JSON progress messages;
//! a failure before anything was streamed is an HTTP error, as dockerd's.

use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::{blocking, Shared};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use base64::Engine as _;
use bytes::Bytes;
use hull_engine::images::{Credential, ImageProgress, TransferEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// The credential in an `X-Registry-Auth` header (base64url JSON); None when absent or
/// empty (`{}`), so the service's stored credential, if any, is used.
pub fn registry_auth(headers: &HeaderMap) -> ApiResult<Option<Credential>> {
    let Some(value) = headers.get("x-registry-auth") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("X-Registry-Auth is not text"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let trimmed = text.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| ApiError::bad_request("X-Registry-Auth is not base64url JSON"))?;
    credential_from(
        &serde_json::from_slice(&bytes)
            .map_err(|_| ApiError::bad_request("X-Registry-Auth is not base64url JSON"))?,
    )
}

/// `{"username", "password"}` (or a base64 `auth` of `user:password`), when present.
fn credential_from(value: &Value) -> ApiResult<Option<Credential>> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default();
    if !text("username").is_empty() || !text("password").is_empty() {
        return Ok(Some(Credential {
            username: text("username").to_string(),
            password: text("password").to_string(),
        }));
    }
    if text("auth").is_empty() {
        return Ok(None);
    }
    Credential::from_auth(text("auth"))
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("auth is not base64 user:password"))
}

/// `docker login`: the credential is checked with the registry, never stored (clients keep
/// their own).
pub async fn auth(State(state): State<Shared>, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    let credential = credential_from(&body)?
        .ok_or_else(|| ApiError::bad_request("username and password are required"))?;
    let server = body
        .get("serveraddress")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    blocking(&state, move |s| {
        Ok(s.images()?.check_login(server.as_deref(), &credential)?)
    })
    .await?;
    Ok(Json(
        json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

/// `docker pull`: `fromImage`, `tag`, `platform`.
pub async fn pull(state: Shared, params: Params, headers: HeaderMap) -> ApiResult<Response> {
    let image = params.get("fromImage").unwrap_or_default().to_string();
    let reference = match params.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) if tag.starts_with("sha256:") => format!("{image}@{tag}"),
        Some(tag) => format!("{image}:{tag}"),
        None => image,
    };
    let platform = params
        .get("platform")
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let credential = registry_auth(&headers)?;
    stream(state, move |s, progress| {
        let images = s.images()?;
        images.pull(&reference, platform.as_deref(), credential, progress)?;
        Ok(())
    })
    .await
}

/// `docker push`: the image `name`, `tag`.
pub async fn push(
    state: Shared,
    name: String,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let reference = match params.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{name}:{tag}"),
        None => name,
    };
    let credential = registry_auth(&headers)?;
    stream(state, move |s, progress| {
        let pushed = s.images()?.push(&reference, credential, progress)?;
        progress.send(&json!({
            "progressDetail": {},
            "aux": {"Tag": pushed.tag, "Digest": pushed.digest, "Size": pushed.size},
        }));
        Ok(())
    })
    .await
}

/// Runs `work` on the blocking pool, streaming its progress. Until the first message the
/// response is not started, so an early failure is a plain HTTP error; later ones are
/// Docker's `{"error": ...}` line.
async fn stream(
    state: Shared,
    work: impl FnOnce(&crate::state::AppState, &ApiTransfer) -> ApiResult<()> + Send + 'static,
) -> ApiResult<Response> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let (done_tx, done_rx) = oneshot::channel::<ApiResult<()>>();
    let worker = std::sync::Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let progress = ApiTransfer {
            tx: tx.clone(),
            started: AtomicBool::new(false),
            last_progress: Default::default(),
        };
        let result = work(&worker, &progress);
        match &result {
            // Once streaming, a failure is the stream's last line.
            Err(err) if progress.started.load(Ordering::SeqCst) => progress.send(&json!({
                "errorDetail": {"message": err.message},
                "error": err.message,
            })),
            _ => {}
        }
        let _ = done_tx.send(result);
    });
    let mut done_rx = done_rx;
    let first = tokio::select! {
        first = rx.recv() => match first {
            Some(message) => Some(message),
            // The channel closed: the work ended without a word.
            None => match done_rx.await {
                Ok(Err(err)) => return Err(err),
                _ => None,
            },
        },
        done = &mut done_rx => {
            // Finished without a word: an error answers as an HTTP status.
            if let Ok(Err(err)) = done {
                return Err(err);
            }
            rx.recv().await
        }
    };
    let head = futures_util::stream::iter(first.map(Ok::<_, std::io::Error>));
    let rest = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::io::Error>,
    );
    Ok(Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from_stream(futures_util::StreamExt::chain(
            head, rest,
        )))
        .unwrap_or_default())
}

/// Pull and push progress as Docker's JSON messages.
pub struct ApiTransfer {
    tx: mpsc::Sender<Bytes>,
    /// Whether a message went out (the response has started).
    started: AtomicBool,
    /// When each blob's byte count was last sent (they come per network chunk).
    last_progress: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// The least time between two byte counts of one blob in the stream.
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

impl ApiTransfer {
    fn send(&self, message: &Value) {
        self.started.store(true, Ordering::SeqCst);
        let mut line = message.to_string();
        line.push('\n');
        // Called from inside the registry client's own runtime, where blocking_send may not
        // block: wait for room by hand. A client that left stops nothing: the pull
        // completes and is stored.
        let mut message = Bytes::from(line);
        while let Err(mpsc::error::TrySendError::Full(back)) = self.tx.try_send(message) {
            message = back;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl hull_rootfs::Progress for ApiTransfer {}

impl ImageProgress for ApiTransfer {
    fn pull_status(&self, line: &str) {
        // `latest: Pulling from library/busybox` carries its id as Docker's does.
        match line.split_once(": Pulling from ") {
            Some((id, rest)) => {
                self.send(&json!({"status": format!("Pulling from {rest}"), "id": id}))
            }
            None => self.send(&json!({"status": line})),
        }
    }

    fn transfer(&self, blob: &str, event: &TransferEvent) {
        if let TransferEvent::Progress { done, total } = event {
            let mut last = self.last_progress.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            let due = last
                .get(blob)
                .is_none_or(|at| now.duration_since(*at) >= PROGRESS_INTERVAL);
            if !due && done < total {
                return;
            }
            last.insert(blob.to_string(), now);
        }
        let (status, detail) = match event {
            TransferEvent::Waiting => ("Waiting".to_string(), json!({})),
            TransferEvent::AlreadyExists => ("Already exists".to_string(), json!({})),
            TransferEvent::Progress { done, total } => (
                "Downloading".to_string(),
                json!({"current": done, "total": total}),
            ),
            TransferEvent::Resuming { offset } => (format!("Resuming at byte {offset}"), json!({})),
            TransferEvent::Downloaded => ("Download complete".to_string(), json!({})),
            TransferEvent::Pushed => ("Pushed".to_string(), json!({})),
            TransferEvent::Mounted { from } => (format!("Mounted from {from}"), json!({})),
            TransferEvent::Complete => ("Pull complete".to_string(), json!({})),
        };
        self.send(&json!({"status": status, "progressDetail": detail, "id": blob}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-registry-auth", value.parse().unwrap());
        headers
    }

    #[test]
    fn registry_auth_headers_decode_as_docker_sends_them() {
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE.encode(json);
        let credential = registry_auth(&headers(&encode(
            r#"{"username":"alice","password":"pw","serveraddress":"127.0.0.1:5000"}"#,
        )))
        .unwrap()
        .unwrap();
        assert_eq!(
            (credential.username.as_str(), credential.password.as_str()),
            ("alice", "pw")
        );
        assert!(registry_auth(&headers(&encode("{}"))).unwrap().is_none());
        assert!(registry_auth(&HeaderMap::new()).unwrap().is_none());
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:secret");
        let credential = registry_auth(&headers(&encode(&format!(r#"{{"auth":"{auth}"}}"#))))
            .unwrap()
            .unwrap();
        assert_eq!(credential.username, "bob");
        assert!(registry_auth(&headers("!!!")).is_err());
    }
}
