//! API versions: every path may start with `/v1.xx` (dockerd serves both forms). The
//! prefix is taken off before routing; a version outside what hull serves is refused as
//! dockerd refuses it.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use hull_engine::system::version::{API_VERSION, MIN_API_VERSION};

/// The version a request's path asked for (None: no prefix, the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedVersion(pub Option<(u32, u32)>);

/// `1.41` as (1, 41).
pub fn parse(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Splits `/v1.41/containers/json` into (1, 41) and `/containers/json`.
fn split_prefix(path: &str) -> Option<((u32, u32), &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let version = parse(&rest[..end])?;
    let remainder = &rest[end..];
    Some((version, if remainder.is_empty() { "/" } else { remainder }))
}

/// Takes the version prefix off the path (before routing) and records it.
pub fn strip_prefix<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let Some((version, path)) = split_prefix(request.uri().path()) else {
        request.extensions_mut().insert(RequestedVersion(None));
        return request;
    };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(rewritten) = path_and_query.parse() {
        parts.path_and_query = Some(rewritten);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
        .extensions_mut()
        .insert(RequestedVersion(Some(version)));
    request
}

/// Refuses versions newer or older than hull serves, in dockerd's words.
pub async fn check(request: Request, next: Next) -> Response {
    let asked = request
        .extensions()
        .get::<RequestedVersion>()
        .and_then(|v| v.0);
    if let Some(version) = asked {
        let newest = parse(API_VERSION).unwrap_or((1, 41));
        let oldest = parse(MIN_API_VERSION).unwrap_or((1, 24));
        let text = format!("{}.{}", version.0, version.1);
        if version > newest {
            return ApiError::bad_request(format!(
                "client version {text} is too new. Maximum supported API version is {API_VERSION}"
            ))
            .into_response();
        }
        if version < oldest {
            return ApiError::bad_request(format!(
                "client version {text} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            ))
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_come_off_and_other_paths_stay() {
        assert_eq!(
            split_prefix("/v1.41/containers/json"),
            Some(((1, 41), "/containers/json"))
        );
        assert_eq!(split_prefix("/v1.24/_ping"), Some(((1, 24), "/_ping")));
        assert_eq!(split_prefix("/v1.41"), Some(((1, 41), "/")));
        assert_eq!(split_prefix("/containers/json"), None);
        assert_eq!(split_prefix("/volumes"), None);
        assert_eq!(split_prefix("/vx.1/info"), None);
    }
}
