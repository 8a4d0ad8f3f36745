//! virtio-net: one RX/TX queue pair per NIC on a host tap (`IFF_TAP | IFF_NO_PI |
//! IFF_VNET_HDR`), the MAC in config space, Firecracker's offloads (checksum and
//! TSO4/TSO6/UFO both ways, mergeable RX buffers).
//!
//! * `device.rs`: features, config space, activate/reset ([`Net`]).
//! * `header.rs`: the virtio-net header, offered features, tap offloads, TX header checks.
//! * `queue_handler.rs`: the pure data path ([`NetQueueHandler`]).
//! * `used_ring.rs`: batched used-ring publication, interrupt suppression, kick requests.
//! * `event_handler.rs`: the event-loop subscriber ([`NetEventHandler`]).
//! * `backend.rs`: what the data path talks to ([`NetBackend`], [`HostNic`]; [`NullNic`]: none).
//! * `tap.rs`: the tap backend ([`Tap`]).

mod backend;
mod device;
mod event_handler;
pub mod header;
mod queue_handler;
mod tap;
mod used_ring;

#[cfg(test)]
mod tests;

pub use backend::{HostNic, NetBackend, NullNic};
pub use device::{Net, NetArgs, NetError, QUEUE_SIZE};
pub use event_handler::NetEventHandler;
pub use queue_handler::{
    NetCounters, NetQueueHandler, RxState, TxRun, CHAINS_PER_RUN, MAX_SEGMENTS, ROUNDS_PER_RUN,
};
pub use tap::{is_valid_tap_name, owned_fd, Tap, TapError, MAX_TAP_NAME_LEN};
