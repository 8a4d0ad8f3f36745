//! virtio-console, port 0 (hvc0): the container's tty or stdin/stdout.
//!
//! * `device.rs`: features (VIRTIO_CONSOLE_F_SIZE), config space, activate/reset
//!   ([`Console`], [`ConsoleResizer`]).
//! * `queue_handler.rs`: the pure, bounded data path ([`ConsoleQueueHandler`]).
//! * `event_handler.rs`: the event-loop subscriber ([`ConsoleEventHandler`]).
//! * `host_fd.rs`: the console's private non-blocking handles on the host fds.

mod device;
mod event_handler;
mod host_fd;
mod queue_handler;

pub use device::{
    Console, ConsoleArgs, ConsoleError, ConsoleInput, ConsoleOutput, ConsoleResizer, QUEUE_SIZE,
    VIRTIO_CONSOLE_F_SIZE,
};
pub use event_handler::ConsoleEventHandler;
pub use queue_handler::{ConsoleQueueHandler, RxState, TxState, CHAINS_PER_RUN};
