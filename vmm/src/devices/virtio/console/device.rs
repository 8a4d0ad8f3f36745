//! The virtio-console device model: port 0 only (no MULTIPORT), VIRTIO_CONSOLE_F_SIZE. A VM
//! with several consoles has several of these devices; Linux names them hvc0, hvc1, ... in
//! probe order, which is their virtio-mmio attach order.

use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use vmm_sys_util::eventfd::EventFd;

use super::event_handler::ConsoleEventHandler;
use super::host_fd::{Access, HostFd};
use super::queue_handler::ConsoleQueueHandler;
use crate::devices::virtio::{
    read_config_bytes, ActivateError, Activation, GuestMemoryMmap, VirtioDevice, VirtioInterrupt,
    VIRTIO_F_VERSION_1,
};

/// virtio device id of a console.
const VIRTIO_ID_CONSOLE: u32 = 3;
/// Feature bit: config space holds the terminal size (cols, rows).
pub const VIRTIO_CONSOLE_F_SIZE: u32 = 0;
/// Descriptors per queue (Linux's hvc driver keeps one RX buffer per page it posts).
pub const QUEUE_SIZE: u16 = 128;

/// The console's host input: a tty, pipe, socket or pty, readable through epoll.
pub trait ConsoleInput: Read + AsRawFd + Send {}
impl<T: Read + AsRawFd + Send> ConsoleInput for T {}

/// The console's host output.
pub trait ConsoleOutput: Write + AsRawFd + Send {}
impl<T: Write + AsRawFd + Send> ConsoleOutput for T {}

/// What hull attaches to the console's port 0.
pub struct ConsoleArgs {
    /// Host input (stdin, a socket or pty); `None` when the container gets no stdin.
    pub input: Option<Box<dyn ConsoleInput>>,
    /// Host output (stdout, a socket or pty).
    pub output: Box<dyn ConsoleOutput>,
    /// Initial terminal size as (rows, cols); (0, 0) when unknown or not a tty.
    pub size: (u16, u16),
}

/// Why a console could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No eventfd for a queue.
    #[error("cannot create a console queue eventfd (out of file descriptors?)")]
    EventFd(#[source] io::Error),
    /// No private non-blocking handle could be made for a host fd.
    #[error("cannot open a non-blocking handle on console fd {fd}; pass a pipe, socket, pty, tty or file")]
    NonBlocking {
        /// The fd.
        fd: RawFd,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The console socket could not be created.
    #[error("cannot listen on console socket {}: check the directory exists and is writable", path.display())]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Something other than a socket is at the console socket path.
    #[error("console socket path {} exists and is not a socket: remove it or choose another path", .0.display())]
    NotASocket(PathBuf),
    /// Waiting for the console socket's peer failed.
    #[error("cannot accept a connection on console socket {}", path.display())]
    Accept {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// State shared by the device (vCPU thread: config reads, activate, reset), the resizer
/// (whoever watches the host terminal) and the event handler.
pub(super) struct ConsoleShared {
    pub(super) rows: u16,
    pub(super) cols: u16,
    pub(super) interrupt: Option<Arc<VirtioInterrupt>>,
    pub(super) handler: Option<ConsoleQueueHandler<GuestMemoryMmap, Arc<VirtioInterrupt>>>,
}

pub(super) type Shared = Arc<Mutex<ConsoleShared>>;

pub(super) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, ConsoleShared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The virtio-console device (port 0).
pub struct Console {
    queue_sizes: [u16; 2],
    queue_evts: [EventFd; 2],
    shared: Shared,
}

impl Console {
    /// Builds the device (for the MMIO transport) and its event-loop subscriber. The console
    /// works on its own non-blocking handles of the host fds (the given fds keep their
    /// flags): that is what lets a host that stops reading stall only the console, never
    /// the event loop.
    pub fn new(args: ConsoleArgs) -> Result<(Self, ConsoleEventHandler), ConsoleError> {
        // Private handles: the fds given to us (often the terminal of the shell that started
        // hull-vmm) keep their blocking mode, during the run and after we exit.
        let input: Option<Box<dyn ConsoleInput>> = match &args.input {
            Some(input) => Some(Box::new(private_handle(input.as_raw_fd(), Access::Read)?)),
            None => None,
        };
        let output: Box<dyn ConsoleOutput> =
            Box::new(private_handle(args.output.as_raw_fd(), Access::Write)?);
        let rx_evt = EventFd::new(libc::EFD_NONBLOCK).map_err(ConsoleError::EventFd)?;
        let tx_evt = EventFd::new(libc::EFD_NONBLOCK).map_err(ConsoleError::EventFd)?;
        let shared = Arc::new(Mutex::new(ConsoleShared {
            rows: args.size.0,
            cols: args.size.1,
            interrupt: None,
            handler: None,
        }));
        let events = ConsoleEventHandler::new(
            rx_evt.try_clone().map_err(ConsoleError::EventFd)?,
            tx_evt.try_clone().map_err(ConsoleError::EventFd)?,
            input,
            output,
            Arc::clone(&shared),
        );
        let device = Self {
            queue_sizes: [QUEUE_SIZE; 2],
            queue_evts: [rx_evt, tx_evt],
            shared,
        };
        Ok((device, events))
    }

    /// A handle to push host terminal size changes to the guest.
    pub fn resizer(&self) -> ConsoleResizer {
        ConsoleResizer {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Whether the driver brought the console up.
    pub fn is_active(&self) -> bool {
        lock(&self.shared).handler.is_some()
    }
}

/// Pushes terminal size changes to the guest (its hvc tty then delivers SIGWINCH).
#[derive(Clone)]
pub struct ConsoleResizer {
    shared: Shared,
}

impl ConsoleResizer {
    /// Sets the size the guest sees; raises a config-change interrupt if the driver is up.
    pub fn set_size(&self, rows: u16, cols: u16) {
        let mut shared = lock(&self.shared);
        if (shared.rows, shared.cols) == (rows, cols) {
            return;
        }
        shared.rows = rows;
        shared.cols = cols;
        if let Some(interrupt) = &shared.interrupt {
            interrupt.signal_config_change();
        }
    }
}

impl VirtioDevice for Console {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_CONSOLE
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }

    fn avail_features(&self) -> u64 {
        (1u64 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_CONSOLE_F_SIZE)
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr.
        let shared = lock(&self.shared);
        let mut config = [0u8; 12];
        config[0..2].copy_from_slice(&shared.cols.to_le_bytes());
        config[2..4].copy_from_slice(&shared.rows.to_le_bytes());
        config[4..8].copy_from_slice(&1u32.to_le_bytes());
        read_config_bytes(&config, offset, data);
    }

    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        let mut queues = activation.queues.into_iter();
        let (Some(rx), Some(tx)) = (queues.next(), queues.next()) else {
            return Err(ActivateError::BadQueue(1));
        };
        let handler =
            ConsoleQueueHandler::new(activation.mem, rx, tx, Arc::clone(&activation.interrupt));
        {
            let mut shared = lock(&self.shared);
            shared.handler = Some(handler);
            shared.interrupt = Some(activation.interrupt);
        }
        // Let the event loop look at both queues (buffers posted before DRIVER_OK).
        for evt in &self.queue_evts {
            if let Err(err) = evt.write(1) {
                tracing::warn!("virtio-console: cannot kick a queue after activation: {err}");
            }
        }
        Ok(())
    }

    fn used_indices(&self) -> Result<Vec<u16>, String> {
        Ok(lock(&self.shared)
            .handler
            .as_ref()
            .map(|h| h.used_indices().to_vec())
            .unwrap_or_default())
    }

    fn reset(&mut self) {
        let mut shared = lock(&self.shared);
        shared.handler = None;
        shared.interrupt = None;
    }
}

/// The console's own non-blocking handle on a host fd (see [`HostFd`]).
fn private_handle(fd: RawFd, access: Access) -> Result<HostFd, ConsoleError> {
    // SAFETY: `fd` belongs to a `ConsoleInput`/`ConsoleOutput` the caller still holds, so it
    // stays open for this call; HostFd::new only dups or reopens it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    HostFd::new(borrowed, access).map_err(|source| ConsoleError::NonBlocking { fd, source })
}

#[cfg(test)]
mod tests {
    use std::os::unix::io::AsRawFd;

    use super::*;
    use crate::devices::virtio::test_utils::{is_nonblocking, pty};

    /// Regression: `Console::new` used to set O_NONBLOCK on the fds it was given. On the
    /// terminal hull-vmm shares with its parent shell that flag outlived hull-vmm, and the
    /// next `eprintln!` on it could panic with EAGAIN.
    #[test]
    fn console_leaves_the_given_terminal_blocking() {
        let Some((_master, slave)) = pty() else {
            println!("skipped: no pty available on this host");
            return;
        };
        let (console, events) = Console::new(ConsoleArgs {
            input: Some(Box::new(slave.try_clone().unwrap())),
            output: Box::new(slave.try_clone().unwrap()),
            size: (24, 80),
        })
        .unwrap();
        assert!(!is_nonblocking(slave.as_raw_fd()), "while the console runs");
        drop((console, events));
        assert!(!is_nonblocking(slave.as_raw_fd()), "after it is gone");
    }
}
