//! Published ports (`hull port`, the PORTS column): which host address forwards to which
//! container port.

use super::Containers;
use crate::error::Result;

pub use crate::container::network::PublishedPort;

impl Containers {
    /// The ports of container `reference` published on the host (none unless it runs).
    pub fn published_ports(&self, reference: &str) -> Result<Vec<PublishedPort>> {
        let container = self.find(reference)?;
        let up = container.is_up();
        Ok(container
            .state
            .network
            .filter(|_| up)
            .map(|network| network.ports)
            .unwrap_or_default())
    }
}
