//! virtio-fs through vhost-user (`vhost-user-fs`): the device model here only owns the
//! config space (the tag) and the interrupt; the queues are served by a vhost-user backend
//! (virtiofsd) in another process. At activation the frontend hands it the guest memory
//! (the memfd regions, so guest RAM must be created shared), each queue's addresses, the
//! queue-notify eventfd as its kick (a guest notify reaches virtiofsd through KVM's
//! ioeventfd without a VMM round trip) and a call eventfd the event loop turns into the
//! device's interrupt (the virtio-mmio InterruptStatus bit must be set first, so the call
//! fd cannot be the irqfd itself).

mod device;
mod event_handler;
mod frontend;
#[cfg(test)]
mod tests;

pub use device::{FsArgs, FsError, VhostUserFs, TAG_MAX_LEN};
pub use event_handler::FsEventHandler;
