//! virtio-balloon with free page reporting only: the guest reports ranges of memory it has
//! freed, hull-vmm discards them (`madvise(MADV_DONTNEED)`), and the VM's RSS shrinks. The
//! balloon itself is never inflated (`num_pages` stays 0): hull sizes VMs up front.
//!
//! * `device.rs`: features, config space, activate/reset ([`Balloon`]).
//! * `queue_handler.rs`: the pure queue loop and the range checks ([`BalloonQueueHandler`]).
//! * `event_handler.rs`: the event-loop subscriber ([`BalloonEventHandler`]).

mod device;
mod event_handler;
mod queue_handler;

pub use device::{Balloon, BalloonError, QUEUE_SIZE};
pub use event_handler::BalloonEventHandler;
pub use queue_handler::{
    discardable, BalloonQueueHandler, DiscardPages, MadviseDiscard, CHAINS_PER_RUN,
};
