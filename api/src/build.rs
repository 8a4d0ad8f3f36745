//! `POST /build` (`docker build` with the classic builder, docker-py's `images.build`, the
//! `build:` of compose): the context tar in the body, unpacked with the checks of any
//! untrusted tar into a directory of the service's own; the engine's `hull build` on it;
//! its progress streamed as Docker's JSON messages (`{"stream": ...}`), the image as
//! `{"aux": {"ID": ...}}`, a failure as `{"errorDetail": ..., "error": ...}` (the status
//! is already 200 by then, as dockerd's).

use crate::error::{ApiError, ApiResult};
use crate::images::{spool_body, upload_path};
use crate::query::Params;
use crate::state::Shared;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use hull_engine::build::{BuildProgress, BuildRequest, DockerfileSource};
use hull_engine::container::network::NetworkConfig;
use hull_engine::container::ContainerConfig;
use hull_engine::containers::CreateRequest;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Component, Path};
use tokio::sync::mpsc;

/// The largest context accepted.
const CONTEXT_LIMIT: u64 = 16 << 30;

/// The build route.
pub fn routes() -> Router<Shared> {
    Router::new().route("/build", post(build))
}

/// What the query string asks, checked before the body is read.
struct BuildParams {
    tags: Vec<String>,
    dockerfile: String,
    build_args: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    target: Option<String>,
    no_cache: bool,
    quiet: bool,
    network: String,
}

fn json_map(params: &Params, key: &str) -> ApiResult<BTreeMap<String, Option<String>>> {
    match params.get(key).filter(|v| !v.is_empty()) {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}"))),
    }
}

impl BuildParams {
    fn parse(params: &Params) -> ApiResult<Self> {
        if params.get("remote").is_some_and(|r| !r.is_empty()) {
            return Err(ApiError::bad_request(
                "hull cannot fetch a remote build context: send the context as the body",
            ));
        }
        let dockerfile = params
            .get("dockerfile")
            .filter(|d| !d.is_empty())
            .unwrap_or("Dockerfile")
            .to_string();
        let inside = Path::new(&dockerfile)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !inside {
            return Err(ApiError::bad_request(format!(
                "the Dockerfile ({dockerfile}) must be within the build context"
            )));
        }
        let network = match params.get("networkmode").unwrap_or("default") {
            "" | "default" | "bridge" => "bridge",
            "none" => "none",
            other => {
                return Err(ApiError::bad_request(format!(
                    "networkmode {other:?}: hull builds with default, bridge or none"
                )))
            }
        };
        let pairs = |map: BTreeMap<String, Option<String>>| -> Vec<(String, String)> {
            map.into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect()
        };
        Ok(Self {
            tags: params
                .all("t")
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect(),
            dockerfile,
            build_args: pairs(json_map(params, "buildargs")?),
            labels: pairs(json_map(params, "labels")?),
            target: params
                .get("target")
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            no_cache: params.flag("nocache", false),
            quiet: params.flag("q", false),
            network: network.to_string(),
        })
    }
}

async fn build(
    State(state): State<Shared>,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let asked = BuildParams::parse(&params)?;
    let spool = upload_path(&state, "build", "tar").await?;
    if let Err(err) = spool_body(request, &spool, CONTEXT_LIMIT, "build contexts").await {
        let _ = tokio::fs::remove_file(&spool).await;
        return Err(err);
    }
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let builder = std::sync::Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let progress = ApiProgress {
            tx: tx.clone(),
            quiet: asked.quiet,
        };
        let context = spool.with_extension("d");
        let result = run_build(&builder, &asked, &spool, &context, &progress);
        let _ = std::fs::remove_file(&spool);
        let _ = std::fs::remove_dir_all(&context);
        match result {
            Ok(id) => {
                progress.send(&json!({ "aux": { "ID": id } }));
                let short = id
                    .trim_start_matches("sha256:")
                    .get(..12)
                    .unwrap_or(&id)
                    .to_string();
                if asked.quiet {
                    progress.send(&json!({ "stream": format!("{id}\n") }));
                } else {
                    progress.stream(&format!("Successfully built {short}\n"));
                    for tag in &asked.tags {
                        progress.stream(&format!("Successfully tagged {tag}\n"));
                    }
                }
            }
            Err(message) => progress.send(&json!({
                "errorDetail": { "message": message },
                "error": message,
            })),
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok(Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from_stream(tokio_stream::StreamExt::map(
            stream,
            Ok::<_, std::io::Error>,
        )))
        .unwrap_or_default())
}

/// Unpacks the context and builds; the image id, or what went wrong.
fn run_build(
    state: &crate::state::AppState,
    asked: &BuildParams,
    spool: &Path,
    context: &Path,
    progress: &ApiProgress,
) -> Result<String, String> {
    std::fs::create_dir_all(context).map_err(|e| format!("cannot unpack the context: {e}"))?;
    let file = std::fs::File::open(spool).map_err(|e| format!("cannot read the context: {e}"))?;
    hull_engine::build::unpack_context(file, context).map_err(|e| e.to_string())?;
    let request = BuildRequest {
        context: context.to_path_buf(),
        dockerfile: Some(DockerfileSource::Path(context.join(&asked.dockerfile))),
        tags: asked.tags.clone(),
        build_args: asked.build_args.clone(),
        target: asked.target.clone(),
        no_cache: asked.no_cache,
        labels: asked.labels.clone(),
        container: CreateRequest {
            engine: state.engine,
            config: ContainerConfig {
                network: NetworkConfig {
                    mode: asked.network.clone(),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        },
    };
    state
        .containers
        .build(&request, progress)
        .map(|outcome| outcome.image.id)
        .map_err(|e| e.to_string())
}

/// The build's progress as Docker's JSON messages.
struct ApiProgress {
    tx: mpsc::Sender<Bytes>,
    quiet: bool,
}

impl ApiProgress {
    fn send(&self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        // A client that left ends nothing: the build finishes and is cached.
        let _ = self.tx.blocking_send(Bytes::from(line));
    }

    fn stream(&self, text: &str) {
        if !self.quiet {
            self.send(&json!({ "stream": text }));
        }
    }
}

impl hull_rootfs::Progress for ApiProgress {}
impl hull_engine::images::ImageProgress for ApiProgress {}

impl BuildProgress for ApiProgress {
    fn step_started(&self, number: usize, title: &str) {
        self.stream(&format!("Step {number} : {title}\n"));
    }

    fn step_cached(&self, _number: usize) {
        self.stream(" ---> Using cache\n");
    }

    fn step_output(&self, _number: usize, bytes: &[u8]) {
        self.stream(&String::from_utf8_lossy(bytes));
    }

    fn step_done(&self, _number: usize, elapsed: std::time::Duration) {
        self.stream(&format!(" ---> done in {:.1}s\n", elapsed.as_secs_f64()));
    }

    fn warning(&self, text: &str) {
        self.stream(&format!("[Warning] {text}\n"));
    }
}
