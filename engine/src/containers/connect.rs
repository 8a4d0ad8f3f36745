//! `network connect` and `network disconnect`. A hull container has one network interface,
//! given to its VM at boot: a VM cannot have a NIC hot-plugged here, so both verbs change a
//! container that is not running, and its next start uses the new network.

use super::Containers;
use crate::container::network::NETWORK_NONE;
use crate::container::Container;
use crate::error::{Error, Result};
use hull_network::NetworkStore;
use std::net::Ipv4Addr;

/// `network connect` flags.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    /// `--alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
}

impl Containers {
    /// Puts the stopped container `reference` on network `network` (its only one).
    pub fn connect_network(
        &self,
        network: &str,
        reference: &str,
        request: &ConnectRequest,
    ) -> Result<Container> {
        let store = NetworkStore::open(&self.root)?;
        let network = store.get(network)?;
        let container = self.find(reference)?;
        if network.name == "host" || network.name == NETWORK_NONE {
            return Err(Error::InvalidArgument(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let current = &container.config.network;
        if !current.is_none() && store.get(&current.mode).is_ok_and(|n| n.id == network.id) {
            return Err(Error::InvalidArgument(format!(
                "endpoint with name {} already exists in network {}",
                container.name, network.name
            )));
        }
        refuse_while_up(&container, "connected to")?;
        if !current.is_none() {
            return Err(Error::InvalidArgument(format!(
                "container {} is on network {}: a hull container has one network interface; \
                 disconnect it first (hull network disconnect {} {})",
                container.name, current.mode, current.mode, container.name
            )));
        }
        let mut config = current.clone();
        config.mode = network.name.clone();
        config.aliases = request.aliases.clone();
        config.ip = request.ip;
        config.validate().map_err(Error::InvalidArgument)?;
        crate::supervisor::network::check_request(&self.root, &container.name, &config)?;
        self.store
            .update(&container.id, |container| container.config.network = config)
    }

    /// Takes the stopped container `reference` off network `network` (it then has only
    /// `lo`, as with `--network none`).
    pub fn disconnect_network(&self, network: &str, reference: &str) -> Result<Container> {
        let store = NetworkStore::open(&self.root)?;
        let network = store.get(network)?;
        let container = self.find(reference)?;
        let current = &container.config.network;
        let connected =
            !current.is_none() && store.get(&current.mode).is_ok_and(|n| n.id == network.id);
        if !connected {
            return Err(Error::InvalidArgument(format!(
                "container {} is not connected to network {}",
                container.id, network.name
            )));
        }
        refuse_while_up(&container, "disconnected from")?;
        self.store.update(&container.id, |container| {
            let config = &mut container.config.network;
            config.mode = NETWORK_NONE.into();
            config.aliases.clear();
            config.ip = None;
            // Ports and links need a network: Docker's `none` refuses them too.
            config.publish.clear();
            config.publish_all = false;
            config.links.clear();
        })
    }
}

/// A running VM's devices are fixed at boot: say so and what to do instead.
fn refuse_while_up(container: &Container, verb: &str) -> Result<()> {
    if container.is_up() {
        return Err(Error::InvalidArgument(format!(
            "container {} is running: a hull container is a VM whose network interface is fixed \
             when it boots, so it can be {verb} a network only while stopped \
             (hull stop {}, then start it again)",
            container.name, container.name
        )));
    }
    Ok(())
}
