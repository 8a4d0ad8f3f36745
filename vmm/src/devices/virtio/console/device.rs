//! The virtio-console device model: port 0 only (no MULTIPORT), VIRTIO_CONSOLE_F_SIZE.

use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};

use vmm_sys_util::eventfd::EventFd;

use super::event_handler::ConsoleEventHandler;
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

/// What hull attaches to port 0 (hvc0).
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
    /// The host fds cannot be switched to non-blocking mode.
    #[error("cannot make console fd {fd} non-blocking; pass a pipe, socket, pty or tty")]
    NonBlocking {
        /// The fd.
        fd: RawFd,
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
    /// Builds the device (for the MMIO transport) and its event-loop subscriber. The host
    /// fds are switched to non-blocking mode: that is what lets a host that stops reading
    /// stall only the console, never the event loop.
    pub fn new(args: ConsoleArgs) -> Result<(Self, ConsoleEventHandler), ConsoleError> {
        if let Some(input) = &args.input {
            set_nonblocking(input.as_raw_fd())?;
        }
        set_nonblocking(args.output.as_raw_fd())?;
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
            args.input,
            args.output,
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

/// Pushes terminal size changes to the guest (hvc0 then delivers SIGWINCH).
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

    fn reset(&mut self) {
        let mut shared = lock(&self.shared);
        shared.handler = None;
        shared.interrupt = None;
    }
}

fn set_nonblocking(fd: RawFd) -> Result<(), ConsoleError> {
    let fail = |source| ConsoleError::NonBlocking { fd, source };
    // SAFETY: F_GETFL only reads the flags of `fd`; an invalid fd yields -1 and EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: F_SETFL only changes the status flags of `fd`, no memory is involved.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    Ok(())
}
