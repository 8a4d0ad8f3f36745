//! Published ports (`hull port`, the PORTS column): which host address forwards to which
//! container port.

use super::Containers;
use crate::error::Result;
use serde::Serialize;

/// One host address forwarding to a container port (Docker's `PortBinding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    /// The container's port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address it listens on.
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
}

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
