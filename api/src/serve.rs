//! The accept loop: each connection served by hyper (HTTP/1.1, upgrades on) over one axum
//! router; a slow client cannot hold a connection open without sending its headers;
//! SIGINT/SIGTERM end the service; `--time` ends it after that long without a client.

use crate::listen::{Endpoint, Listener};
use crate::state::{AppState, Shared};
use crate::{build, containers, exec, images, networks, system, version, volumes};
use anyhow::Result;
use axum::http::Request;
use axum::Router;
use hull_engine::host::EngineKind;
use hull_engine::networks::DaemonCommand;
use hull_engine::Containers;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Request bodies (JSON) larger than this are refused; `load` streams its archive instead.
const BODY_LIMIT: usize = 4 << 20;

/// What the service serves, and where.
pub struct ServiceOptions {
    /// Where to listen.
    pub endpoint: Endpoint,
    /// End after this long without a connection (None: never).
    pub idle_timeout: Option<Duration>,
    /// The engine new containers boot on (None: the host's default).
    pub engine: Option<EngineKind>,
    /// How networks' daemons start.
    pub network_daemon: DaemonCommand,
    /// TLS for a tcp:// endpoint (`--tlsverify`).
    pub tls: Option<crate::tls::TlsFiles>,
}

fn router(state: Shared) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(build::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(networks::routes())
        .merge(volumes::routes())
        .fallback(|| async { crate::error::ApiError::not_found("page not found") })
        .layer(axum::middleware::from_fn(version::check))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The router behind the version-prefix layer.
pub(crate) type App<B> = tower::util::MapRequest<Router, fn(Request<B>) -> Request<B>>;

/// The service: the router behind the layer that takes the version prefix off paths
/// (before routing).
pub(crate) fn app<B>(state: Shared) -> App<B> {
    tower::util::MapRequestLayer::new(version::strip_prefix as fn(_) -> _).layer(router(state))
}

/// Serves the API for `containers` until a signal (or the idle timeout) ends it.
pub fn serve(containers: Containers, options: ServiceOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(containers, options))?;
    // Sessions still relaying (a client that stays attached) must not keep the process.
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

async fn run(containers: Containers, options: ServiceOptions) -> Result<()> {
    let state: Shared = Arc::new(AppState {
        containers,
        engine: options.engine,
        network_daemon: options.network_daemon,
        waiting_attaches: Default::default(),
        stdin_once: Default::default(),
        execs: Default::default(),
    });
    let app = app(state);
    let listener = options.endpoint.bind(options.tls.as_ref())?;
    tracing::info!("API listening on {}", options.endpoint);
    eprintln!("hull: API listening on {}", options.endpoint);
    let active = Arc::new(AtomicUsize::new(0));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let idle_check = options.idle_timeout.map(|t| t.min(Duration::from_secs(1)));
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            () = tokio::time::sleep(idle_check.unwrap_or(Duration::from_secs(3600))) => {
                if active.load(Ordering::SeqCst) > 0 {
                    idle_since = tokio::time::Instant::now();
                } else if options.idle_timeout.is_some_and(|t| idle_since.elapsed() >= t) {
                    break;
                }
                continue;
            }
        };
        let accepted = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        let active = Arc::clone(&active);
        active.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let Some(io) = accepted.ready().await else {
                active.fetch_sub(1, Ordering::SeqCst);
                return;
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(io, service)
                .with_upgrades();
            if let Err(err) = connection.await {
                tracing::debug!("connection ended: {err}");
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
        idle_since = tokio::time::Instant::now();
    }
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// A connection, boxed so both kinds of listener serve the same way.
type Connection = TokioIo<Box<dyn Io>>;

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// An accepted connection; a TLS one still has its handshake to do (in its own task, so
/// a slow handshake holds up nobody else).
enum Accepted {
    Ready(Connection),
    Handshake(tokio::net::TcpStream, tokio_rustls::TlsAcceptor),
}

impl Accepted {
    /// The connection to serve, or None when the TLS handshake failed (no client
    /// certificate, a wrong one, a client too slow).
    async fn ready(self) -> Option<Connection> {
        match self {
            Accepted::Ready(io) => Some(io),
            Accepted::Handshake(stream, acceptor) => {
                match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => Some(TokioIo::new(Box::new(tls))),
                    Ok(Err(err)) => {
                        tracing::info!("TLS handshake refused: {err}");
                        None
                    }
                    Err(_) => None,
                }
            }
        }
    }
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    Ok(match listener {
        Listener::Unix(listener, _) => {
            Accepted::Ready(TokioIo::new(Box::new(listener.accept().await?.0)))
        }
        Listener::Tcp(listener) => {
            Accepted::Ready(TokioIo::new(Box::new(listener.accept().await?.0)))
        }
        Listener::Tls(listener, acceptor) => {
            Accepted::Handshake(listener.accept().await?.0, acceptor.clone())
        }
    })
}
