//! The container use cases: create, start (detached or attached), stop, kill, remove, wait,
//! list, inspect, logs, and the attach and exec sessions. Every front-end (the `hull` CLI
//! today) calls these; they take typed requests, return typed results and [`Error`]s, and
//! never print or exit.

mod admin;
mod commit_changes;
mod connect;
mod copy;
mod create;
pub mod filter;
mod inspect;
pub mod inspect_network;
mod lifecycle;
mod logs;
pub mod memory;
mod pause;
pub mod ports;
mod restarts;
mod sessions;
pub mod stats;
mod top;

pub use crate::supervisor::top::TopAnswer;
pub use connect::ConnectRequest;
pub(crate) use copy::LayerExport;
pub use copy::{CommitRequest, CopyOptions, CopySource, CopyTarget};
pub use create::CreateRequest;
pub use hull_protocol::TopProcess;
pub use lifecycle::signal_number;
pub use logs::{LogStream, LogsRequest};
pub use ports::PublishedPort;
pub use sessions::{Session, SessionEvent, SessionInput};

use crate::container::{Container, ContainerStore};
use crate::error::{Error, Result};
use crate::vm::{Engines, HostEngines};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flag the shim command is given when a client attaches right after the start.
pub const SHIM_FOR_ATTACH_FLAG: &str = "--for-attach";

/// How to start a detached container's supervisor (`hull shim ID` for the CLI): `program`
/// with `args`, then [`SHIM_FOR_ATTACH_FLAG`] when a client attaches next, then the
/// container's full id. The supervisor must call [`Containers::supervise_detached`].
#[derive(Debug, Clone)]
pub struct ShimCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments before the container's id.
    pub args: Vec<OsString>,
}

/// The containers under one root, and the engines that boot them.
pub struct Containers {
    root: PathBuf,
    store: ContainerStore,
    engines: Box<dyn Engines>,
    shim: Option<ShimCommand>,
    networking: crate::supervisor::network::Networking,
}

impl Containers {
    /// The containers under `root` (`$HULL_ROOT`), booted on this host's engines.
    pub fn open(root: &Path) -> Result<Self> {
        Self::with_engines(root, Box::new(HostEngines))
    }

    /// The containers under `root`, booted on `engines` (a fake one in tests).
    pub fn with_engines(root: &Path, engines: Box<dyn Engines>) -> Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
            store: ContainerStore::open(root)?,
            engines,
            shim: None,
            networking: crate::supervisor::network::Networking {
                root: root.to_path_buf(),
                daemon: None,
            },
        })
    }

    /// Detached starts run `shim` (without one they are refused).
    pub fn with_shim(mut self, shim: ShimCommand) -> Self {
        self.shim = Some(shim);
        self
    }

    /// Networks' daemons start with `daemon` (without one, networked containers are
    /// refused).
    pub fn with_network_daemon(mut self, daemon: hull_network::DaemonCommand) -> Self {
        self.networking.daemon = Some(daemon);
        self
    }

    /// The root the containers (and images) live under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The container store (paths, raw state).
    pub fn store(&self) -> &ContainerStore {
        &self.store
    }

    /// The container `reference` names (full id, name or unique id prefix), as it really is
    /// (a "running" one whose VM is gone is recorded as ended first).
    pub fn find(&self, reference: &str) -> Result<Container> {
        self.store.find_current(reference)
    }

    /// Every container (only the running ones unless `all`), newest first, each as it
    /// really is.
    pub fn list(&self, all: bool) -> Result<Vec<Container>> {
        let mut shown = Vec::new();
        for container in self.store.list()? {
            if let Some(current) = self.store.reconcile(container)? {
                if all || current.is_up() {
                    shown.push(current);
                }
            }
        }
        Ok(shown)
    }

    /// The running container `reference` names; `not_running` builds the refusal from its
    /// name otherwise.
    fn find_running(
        &self,
        reference: &str,
        not_running: impl FnOnce(&Container) -> Error,
    ) -> Result<Container> {
        let container = self.find(reference)?;
        if container.is_running() {
            Ok(container)
        } else {
            Err(not_running(&container))
        }
    }
}

#[cfg(test)]
mod tests;
