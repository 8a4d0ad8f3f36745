//! virtio-console devices, one port each: hull-vmm's stdin/stdout (`--console virtio`) or a
//! unix socket it listens on (`--virtio-console socket=PATH`). hull gives the guest three
//! socket consoles: hvc0 the container's tty or stdin/stdout, hvc1 its stderr, hvc2 control.
//!
//! * `device.rs`: features (VIRTIO_CONSOLE_F_SIZE), config space, activate/reset
//!   ([`Console`], [`ConsoleResizer`]).
//! * `queue_handler.rs`: the pure, bounded data path ([`ConsoleQueueHandler`]).
//! * `event_handler.rs`: the event-loop subscriber ([`ConsoleEventHandler`]).
//! * `host_fd.rs`: the console's private non-blocking handles on the host fds.
//! * `socket.rs`: the listening socket backend ([`ConsoleListener`]).

mod device;
mod event_handler;
mod host_fd;
mod queue_handler;
mod socket;

pub use device::{
    Console, ConsoleArgs, ConsoleError, ConsoleInput, ConsoleOutput, ConsoleResizer, QUEUE_SIZE,
    VIRTIO_CONSOLE_F_SIZE,
};
pub use event_handler::ConsoleEventHandler;
pub use queue_handler::{ConsoleQueueHandler, RxState, TxState, CHAINS_PER_RUN};
pub use socket::ConsoleListener;
