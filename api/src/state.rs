//! What every handler shares: the engine's containers, the images' root, and the API's own
//! in-memory objects (exec instances, attach clients waiting for a container to start).

use crate::error::{ApiError, ApiResult};
use crate::exec::ExecInstance;
use hull_engine::containers::Session;
use hull_engine::host::EngineKind;
use hull_engine::networks::DaemonCommand;
use hull_engine::{Containers, Images, Networks};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The service's state.
pub struct AppState {
    /// The containers (their supervisors are `hull shim` processes, as for the CLI).
    pub containers: Containers,
    /// The engine new containers boot on (None: the host's default).
    pub engine: Option<EngineKind>,
    /// How a network's daemon is started (`hull network-daemon`).
    pub network_daemon: DaemonCommand,
    /// Attach clients that came before their container started (`docker run` attaches,
    /// then starts): the start hands each its session.
    pub waiting_attaches: Mutex<HashMap<String, Vec<oneshot::Sender<Session>>>>,
    /// Containers created with `StdinOnce` (`docker run -i`): their attached client's end
    /// of stdin closes the container's.
    pub stdin_once: Mutex<HashSet<String>>,
    /// Exec instances by id (dockerd keeps them in memory too).
    pub execs: Mutex<HashMap<String, Arc<ExecInstance>>>,
}

/// The state as handlers get it.
pub type Shared = Arc<AppState>;

impl AppState {
    /// The image store.
    pub fn images(&self) -> ApiResult<Images> {
        Ok(Images::open(self.containers.root())?)
    }

    /// The networks.
    pub fn networks(&self) -> ApiResult<Networks> {
        Ok(Networks::open(self.containers.root())?.with_daemon(self.network_daemon.clone()))
    }
}

/// Runs the blocking engine call `work` on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(
    state: &Shared,
    work: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|err| ApiError::new(500.try_into().unwrap_or_default(), err.to_string()))?
}
