//! The router in-process, on an empty store: routing with and without the version
//! prefix, Docker's shapes for empty listings, and errors as `{"message"}` JSON.

use crate::serve::app;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use hull_engine::networks::DaemonCommand;
use hull_engine::Containers;
use std::sync::Arc;
use tower::ServiceExt;

fn state(root: &std::path::Path) -> Arc<AppState> {
    Arc::new(AppState {
        containers: Containers::open(root).unwrap(),
        engine: None,
        network_daemon: DaemonCommand {
            program: "/bin/false".into(),
            args: Vec::new(),
        },
        waiting_attaches: Default::default(),
        stdin_once: Default::default(),
        execs: Default::default(),
    })
}

async fn call(
    root: &std::path::Path,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app(state(root)).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn listings_answer_with_and_without_the_version_prefix() {
    let root = tempfile::tempdir().unwrap();
    for path in [
        "/containers/json?all=1",
        "/v1.41/containers/json",
        "/v1.24/images/json",
    ] {
        let (status, body) = call(root.path(), "GET", path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, serde_json::json!([]), "{path}");
    }
}

#[tokio::test]
async fn unknown_objects_are_404s_with_a_message() {
    let root = tempfile::tempdir().unwrap();
    for (method, path, wanted) in [
        ("GET", "/containers/nope/json", "No such container: nope"),
        ("POST", "/containers/nope/start", "No such container: nope"),
        ("DELETE", "/containers/nope", "No such container: nope"),
        ("GET", "/exec/abc/json", "No such exec instance: abc"),
        ("GET", "/images/nope:1/json", "No such image: nope:1"),
        ("GET", "/nothing/here", "page not found"),
    ] {
        let (status, body) = call(root.path(), method, path, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(body["message"], wanted, "{method} {path}");
    }
}

#[tokio::test]
async fn bad_parameters_are_400s() {
    let root = tempfile::tempdir().unwrap();
    for (method, path, body) in [
        ("POST", "/containers/create", "{"),
        ("POST", "/containers/create", "{}"),
        ("GET", "/containers/json?limit=lots", ""),
        (
            "GET",
            "/containers/json?filters=%7B%22nokey%22%3A%5B%22x%22%5D%7D",
            "",
        ),
        ("POST", "/containers/x/wait?condition=sometime", ""),
        ("GET", "/v1.99/version", ""),
        ("GET", "/v1.12/version", ""),
    ] {
        let (status, answer) = call(root.path(), method, path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn volumes_are_created_listed_inspected_and_removed() {
    let root = tempfile::tempdir().unwrap();
    let (status, body) = call(root.path(), "GET", "/volumes", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["Volumes"], serde_json::json!([]));
    let create = r#"{"Name":"pgdata","Labels":{"app":"db"},"DriverOpts":{"o":"x"}}"#;
    let (status, body) = call(root.path(), "POST", "/volumes/create", create).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["Name"], "pgdata");
    assert_eq!(body["Driver"], "local");
    assert_eq!(body["Labels"]["app"], "db");
    assert!(body["Mountpoint"]
        .as_str()
        .unwrap()
        .ends_with("/volumes/pgdata/_data"));
    let (status, body) = call(root.path(), "GET", "/volumes/pgdata", "").await;
    assert_eq!(
        (status, body["Options"]["o"].as_str()),
        (StatusCode::OK, Some("x"))
    );
    let filtered = "/volumes?filters=%7B%22label%22%3A%5B%22app%3Ddb%22%5D%7D";
    let (_, body) = call(root.path(), "GET", filtered, "").await;
    assert_eq!(body["Volumes"][0]["Name"], "pgdata");
    let (status, body) = call(root.path(), "POST", "/volumes/create", r#"{"Name":"a b"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = call(root.path(), "DELETE", "/volumes/pgdata", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(root.path(), "GET", "/volumes/pgdata", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "get pgdata: no such volume");
    let (status, body) = call(root.path(), "POST", "/volumes/prune", "").await;
    assert_eq!(
        (status, &body["VolumesDeleted"]),
        (StatusCode::OK, &serde_json::json!([]))
    );
}

#[tokio::test]
async fn push_needs_a_stored_image() {
    let root = tempfile::tempdir().unwrap();
    let (status, body) = call(root.path(), "POST", "/images/busybox/push", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("does not exist locally"), "{message}");
}
