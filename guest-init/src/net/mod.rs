//! The container's network. Without a network (`--network none`) only loopback, brought up
//! as Docker does (a new network namespace starts with it down). With one (the spec
//! annotation [`hull_protocol::ANNOTATION_NETWORK`]), PID 1 configures the VM's virtio-net
//! interface as `eth0` in the guest's own network namespace, which the container shares:
//! the VM is the isolation boundary.

pub mod address;
pub mod interface;
pub mod ioctl;

use crate::error::SetupError;
use hull_protocol::GuestNetwork;
use ioctl::InetSocket;

/// Sets IFF_UP on `lo` in the calling process's network namespace.
pub fn bring_up_loopback() -> Result<(), SetupError> {
    let socket = InetSocket::open().map_err(|e| SetupError::sys("bring up lo: socket", e))?;
    socket
        .bring_up("lo")
        .map_err(|e| SetupError::sys("bring up lo", e))
}

/// In PID 1, before the container process starts: `lo` and the interface of `network` in
/// the guest's network namespace.
pub fn configure_guest_network(network: &GuestNetwork) -> Result<(), SetupError> {
    let socket = InetSocket::open()
        .map_err(|e| SetupError::sys("open a socket to configure the network", e))?;
    socket
        .bring_up("lo")
        .map_err(|e| SetupError::sys("bring up lo", e))?;
    interface::configure(&socket, network)
}
