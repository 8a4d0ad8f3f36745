//! Docker's error responses: a status code and `{"message": ...}`. Each engine refusal maps
//! to the status dockerd gives the same refusal (404 unknown object, 409 conflict, 400 bad
//! parameter), anything else is a 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hull_engine::Error as EngineError;
use hull_network::Error as NetworkError;
use hull_rootfs::StoreError;

/// An API error: what the client is told, and with which status.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message, Docker's words where Docker has the same refusal.
    pub message: String,
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A refusal with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 501: something a VM-per-container runtime (or hull today) does not do.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({ "message": self.message }));
        (self.status, body).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let status = engine_status(&err);
        let message = match &err {
            EngineError::NoSuchImage(name)
            | EngineError::Image(StoreError::ImageNotFound(name)) => {
                format!("No such image: {name}")
            }
            other => with_causes(other),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!("request failed: {message}");
        }
        Self { status, message }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        EngineError::from(err).into()
    }
}

impl From<std::io::Error> for ApiError {
    fn from(err: std::io::Error) -> Self {
        EngineError::from(err).into()
    }
}

/// The error and its causes, `: `-separated (dockerd's messages read the same way).
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn engine_status(err: &EngineError) -> StatusCode {
    use EngineError as E;
    match err {
        E::NoSuchContainer(_)
        | E::NoSuchVolume(_)
        | E::NoSuchImage(_)
        | E::NotTaggedLocally(_)
        | E::CopyNotFound { .. } => StatusCode::NOT_FOUND,
        E::AmbiguousContainer(_)
        | E::InvalidName(_)
        | E::InvalidArgument(_)
        | E::NotABaseImage(_)
        | E::Copy(_)
        | E::Build(_) => StatusCode::BAD_REQUEST,
        E::NameInUse(_)
        | E::VolumeInUse { .. }
        | E::RemoveRunning(_)
        | E::KillNotRunning(..)
        | E::ExecNotRunning(_)
        | E::AlreadyRunning(_)
        | E::AttachStopped
        | E::NotRunning(_)
        | E::AlreadyPaused(_)
        | E::NotPaused(_)
        | E::Paused(..)
        | E::AttachPaused => StatusCode::CONFLICT,
        E::Image(store) => store_status(store),
        E::Network(network) => network_status(network),
        E::Registry(registry) => registry_status(registry),
        E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn store_status(err: &StoreError) -> StatusCode {
    use StoreError as S;
    match err {
        S::ImageNotFound(_) => StatusCode::NOT_FOUND,
        S::AmbiguousReference { .. }
        | S::InvalidReference { .. }
        | S::UnsafeLayerEntry { .. }
        | S::LayerTooLarge { .. }
        | S::DigestMismatch { .. }
        | S::Corrupt { .. }
        | S::BadArchive { .. } => StatusCode::BAD_REQUEST,
        S::ImageInUse { .. } | S::MultipleReferences { .. } => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn registry_status(err: &hull_engine::images::RegistryError) -> StatusCode {
    use hull_engine::images::RegistryError as R;
    match err {
        R::NotFound { .. } => StatusCode::NOT_FOUND,
        R::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        R::InvalidName { .. } | R::NoPlatform { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn network_status(err: &NetworkError) -> StatusCode {
    use NetworkError as N;
    match err {
        N::NotFound(_) => StatusCode::NOT_FOUND,
        N::NameExists(_) | N::InUse { .. } | N::AddressInUse | N::PoolOverlaps => {
            StatusCode::CONFLICT
        }
        N::Io { .. } | N::Corrupt { .. } | N::Netlink { .. } | N::Daemon(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_get_dockers_statuses() {
        let status = |err| ApiError::from(err).status;
        assert_eq!(status(EngineError::NoSuchContainer("x".into())), 404);
        assert_eq!(status(EngineError::NameInUse("x".into())), 409);
        assert_eq!(status(EngineError::InvalidArgument("x".into())), 400);
        assert_eq!(status(anyhow::anyhow!("boom").into()), 500);
        let image = ApiError::from(EngineError::NoSuchImage("nope:latest".into()));
        assert_eq!(image.status, 404);
        assert_eq!(image.message, "No such image: nope:latest");
    }
}
