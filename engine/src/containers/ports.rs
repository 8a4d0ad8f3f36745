//! Published ports (`hull port`, the PORTS column): which host address forwards to which
//! container port.

use super::Containers;
use crate::error::Result;

pub use crate::container::network::PublishedPort;

impl Containers {
    /// The ports of container `reference` published on the host. A container has none
    /// until hull has networking (issue #14): every container sees only its own `lo`, so
    /// `-p` is not accepted and this list is empty, as Docker's for a container run without
    /// `-p`.
    pub fn published_ports(&self, reference: &str) -> Result<Vec<PublishedPort>> {
        self.find(reference)?;
        Ok(Vec::new())
    }
}
