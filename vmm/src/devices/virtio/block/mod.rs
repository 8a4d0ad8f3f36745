//! virtio-blk: one host file per disk, one request queue, requests served on the event loop.
//!
//! * `device.rs`: features, config space, activate/reset ([`Block`]).
//! * `request.rs`: parsing and executing one request (hostile input).
//! * `queue_handler.rs`: the pure request loop ([`BlockQueueHandler`]).
//! * `event_handler.rs`: the event-loop subscriber ([`BlockEventHandler`]).

mod device;
mod event_handler;
mod queue_handler;
pub mod request;

pub use device::{Block, BlockArgs, BlockError, QUEUE_SIZE, SEG_MAX};
pub use event_handler::BlockEventHandler;
pub use queue_handler::{BlockQueueHandler, QueueRun, CHAINS_PER_RUN, ROUNDS_PER_RUN};
