//! The network use cases: create, list, inspect, remove, prune, over the `hull-network`
//! store. Containers joining networks go through `hull_network::attach` with the
//! [`DaemonCommand`] this facade carries.

mod filter;
mod inspect;

pub use filter::NetworkFilter;
pub use hull_network::{
    AttachRequest, Attachment, CreateNetwork, DaemonCommand, Network, NetworkStore,
};
pub use inspect::NetworkInspect;

use crate::error::{Error, Result};
use std::path::Path;

/// Which containers use a network (their names): a network they use cannot be removed.
pub type InUse = Box<dyn Fn(&NetworkStore, &Network) -> Vec<String>>;

/// The networks under one root.
pub struct Networks {
    store: NetworkStore,
    daemon: Option<DaemonCommand>,
    in_use: InUse,
}

impl Networks {
    /// The networks under `root` (`$HULL_ROOT`). A network is in use while a running
    /// container has an endpoint (lease) on it, until [`Networks::with_in_use`] says
    /// otherwise; the lease of a container that no longer runs (its supervisor was killed)
    /// does not count.
    pub fn open(root: &Path) -> Result<Self> {
        let containers = crate::container::ContainerStore::open(root)?;
        Ok(Self {
            store: NetworkStore::open(root)?,
            daemon: None,
            in_use: Box::new(move |store, network| {
                endpoint_names(store, network, &|id| {
                    containers.find_current(id).is_ok_and(|c| c.is_up())
                })
            }),
        })
    }

    /// Networks' daemons are started with `daemon` (`hull network-daemon` for the CLI).
    pub fn with_daemon(mut self, daemon: DaemonCommand) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// How to tell which containers use a network.
    pub fn with_in_use(mut self, in_use: InUse) -> Self {
        self.in_use = in_use;
        self
    }

    /// The store (attach/detach take it).
    pub fn store(&self) -> &NetworkStore {
        &self.store
    }

    /// How a network's daemon is started, if this front-end can.
    pub fn daemon(&self) -> Option<&DaemonCommand> {
        self.daemon.as_ref()
    }

    /// `network create`.
    pub fn create(&self, request: &CreateNetwork) -> Result<Network> {
        Ok(self.store.create(request)?)
    }

    /// The network `reference` names (full id, name or unique id prefix).
    pub fn get(&self, reference: &str) -> Result<Network> {
        Ok(self.store.get(reference)?)
    }

    /// `network ls`: the networks `filter` keeps, sorted by name.
    pub fn list(&self, filter: &NetworkFilter) -> Result<Vec<Network>> {
        let mut networks = self.store.list()?;
        networks.retain(|network| filter.matches(network, &self.store));
        Ok(networks)
    }

    /// `network inspect`: Docker's document for one network.
    pub fn inspect(&self, reference: &str) -> Result<NetworkInspect> {
        let network = self.store.get(reference)?;
        let endpoints = self.store.endpoints(&network)?;
        Ok(NetworkInspect::new(&network, &endpoints))
    }

    /// `network rm`: refused for the predefined networks and while containers use it.
    pub fn remove(&self, reference: &str) -> Result<Network> {
        Ok(self
            .store
            .remove(reference, &|network| (self.in_use)(&self.store, network))?)
    }

    /// Attaches a container to `network` (see `hull_network::attach`): starts the
    /// network's daemon if needed, leases an address (reclaiming leases of containers
    /// `is_live` says are gone) and returns the tap and addressing for its VM.
    pub fn attach(
        &self,
        network: &Network,
        request: &AttachRequest,
        is_live: &dyn Fn(&str) -> bool,
    ) -> Result<Attachment> {
        let daemon = self.daemon.as_ref().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "this front-end cannot start a network's daemon"
            ))
        })?;
        Ok(hull_network::attach(
            &self.store,
            network,
            request,
            daemon,
            is_live,
        )?)
    }

    /// Frees `container_id`'s address on `network` (its tap goes with its VMM).
    pub fn detach(&self, network: &Network, container_id: &str) -> Result<()> {
        Ok(hull_network::detach(&self.store, network, container_id)?)
    }

    /// `network prune`: removes every unused user network; their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .prune(&|network| (self.in_use)(&self.store, network))?)
    }
}

/// The names of the containers holding a lease on `network`.
fn endpoint_names(
    store: &NetworkStore,
    network: &Network,
    is_live: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    store
        .endpoints(network)
        .map(|endpoints| {
            endpoints
                .into_iter()
                .filter(|e| is_live(&e.container_id))
                .map(|e| e.name)
                .collect()
        })
        // An unreadable network directory: better refuse the removal than lose track.
        .unwrap_or_else(|_| vec![String::from("(unknown)")])
}

#[cfg(test)]
mod tests;
