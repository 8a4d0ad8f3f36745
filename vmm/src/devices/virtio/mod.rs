//! virtio devices and their virtio-mmio transport.
//!
//! # Wiring a device (what the builder does)
//!
//! Device code never touches KVM. Per device, with `MmioDeviceManager::attach_virtio`:
//!
//! ```text
//! // 1. The device and its event-loop half (a `MutEventSubscriber + Send`).
//! let (blk, blk_events) = Block::new(BlockArgs { path, read_only, serial })?;
//! //    net: let (net, net_events) = Net::new(NetArgs { host: Box::new(Tap::open(name)?), mac })?;
//! //    console: let (con, con_events) = Console::new(ConsoleArgs { input, output, size })?;
//! //             let resizer = con.resizer(); // resizer.set_size(rows, cols) on SIGWINCH
//!
//! // 2. The transport. `irq` becomes the irqfd of the device's GSI (edge).
//! let irq = EventFd::new(libc::EFD_NONBLOCK)?;
//! let transport = MmioTransport::new(blk, Arc::clone(&mem), irq.try_clone()?);
//! let notify = transport.try_clone_queue_notify_eventfds()?; // Vec<(u16, EventFd)>
//! let notify_refs: Vec<(u16, &EventFd)> = notify.iter().map(|(q, fd)| (*q, fd)).collect();
//!
//! // 3. Bus + irqfd + one ioeventfd per queue (4-byte write of the queue index at
//! //    base + NOTIFY_REG_OFFSET) + `virtio_mmio.device=4K@base:gsi` on the command line.
//! mmio.attach_virtio(&vm, &mut cmdline, Arc::new(Mutex::new(transport)), &irq, &notify_refs)?;
//!
//! // 4. The event loop gets the subscriber.
//! event_manager.add_subscriber(Arc::new(Mutex::new(blk_events)));
//! ```
//!
//! Queue work runs only in the subscribers, on the event-loop thread: a guest write to
//! QueueNotify lands on the ioeventfd (or, without one, the transport signals the same
//! `EventFd` itself), so vCPU threads never do disk or console I/O. Disks appear in the
//! guest in attach order (vda, vdb, ...), but the guest should find them by serial.
//!
//! The console never changes the fds it is given: it works on its own non-blocking handles
//! (`console/host_fd.rs`), so a terminal shared with the parent shell stays blocking during
//! and after the run. The blk hot path resolves guest buffers with one region lookup
//! (`host_slice.rs`) and pops/publishes chains in batches (`block/queue_handler.rs`).

pub mod balloon;
pub mod block;
pub mod console;
pub mod fs;
mod host_slice;
pub mod mmio;
pub mod net;
pub mod persist;
#[cfg(test)]
mod persist_tests;
#[cfg(test)]
pub(crate) mod test_utils;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use virtio_queue::Queue;
use vmm_sys_util::eventfd::EventFd;

pub use mmio::{MmioTransport, MMIO_DEVICE_SIZE, NOTIFY_REG_OFFSET};

/// The guest memory type devices work on (shared with the vCPUs, hence `Arc`).
pub type GuestMemoryMmap = vm_memory::GuestMemoryMmap<()>;

/// virtio feature bit: the device follows virtio 1.x (the only mode we offer).
pub const VIRTIO_F_VERSION_1: u32 = virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
/// virtio feature bit: used/avail event index notification suppression.
pub const VIRTIO_RING_F_EVENT_IDX: u32 = virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX;

/// InterruptStatus bit: a used ring was updated.
pub const VIRTIO_MMIO_INT_VRING: u32 = 0x1;
/// InterruptStatus bit: the device configuration changed.
pub const VIRTIO_MMIO_INT_CONFIG: u32 = 0x2;

/// The `virtio_mmio.device=` kernel argument announcing a device at `base` on `gsi`.
pub fn virtio_mmio_cmdline_arg(base: u64, gsi: u32) -> String {
    format!("virtio_mmio.device=4K@{base:#x}:{gsi}")
}

/// A device behind the virtio-mmio transport: its identity, features, config space, and what
/// happens when the driver brings it up (activate) or takes it down (reset).
pub trait VirtioDevice: Send {
    /// virtio device id (2 = block, 3 = console).
    fn device_type(&self) -> u32;
    /// Maximum size of each queue; the number of entries is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];
    /// One notification `EventFd` per queue (same order); the device's event-loop
    /// subscriber listens on clones of them.
    fn queue_events(&self) -> &[EventFd];
    /// Feature bits the device offers (the transport adds nothing on its own).
    fn avail_features(&self) -> u64;
    /// Reads device config space at `offset`; bytes past the end read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes device config space; the default ignores writes (read-only config).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// The driver set DRIVER_OK: start serving `queues`.
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError>;
    /// The driver wrote 0 to Status: stop serving queues and forget the activation.
    fn reset(&mut self);
    /// For a snapshot of the active device: each queue's used index (chains completed),
    /// read under the lock its queue handler runs under. Err(why) when this kind of device
    /// cannot be snapshotted.
    fn used_indices(&self) -> Result<Vec<u16>, String> {
        Err(format!(
            "virtio device type {} cannot be snapshotted",
            self.device_type()
        ))
    }
}

/// Everything a device needs to start serving its queues.
pub struct Activation {
    /// Guest memory.
    pub mem: Arc<GuestMemoryMmap>,
    /// The queues as the driver configured them, indexed like `queue_max_sizes`.
    pub queues: Vec<Queue>,
    /// Features both sides agreed on.
    pub acked_features: u64,
    /// How the device interrupts the guest.
    pub interrupt: Arc<VirtioInterrupt>,
}

/// Why a device could not start.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    /// The driver did not make every queue ready, or a queue lies outside guest memory.
    #[error("queue {0} is not ready or lies outside guest memory; the guest driver must reset the device")]
    BadQueue(usize),
    /// The host side of the device could not be prepared.
    #[error("cannot prepare the device backend")]
    Backend(#[source] std::io::Error),
}

/// The guest-visible interrupt state of one device: the InterruptStatus bits, the config
/// generation counter, and the irqfd that raises the device's GSI.
#[derive(Debug)]
pub struct VirtioInterrupt {
    status: AtomicU32,
    config_generation: AtomicU32,
    irq: EventFd,
}

impl VirtioInterrupt {
    /// Wraps the irqfd registered for the device's GSI.
    pub fn new(irq: EventFd) -> Self {
        Self {
            status: AtomicU32::new(0),
            config_generation: AtomicU32::new(0),
            irq,
        }
    }

    /// Current InterruptStatus bits.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    /// The driver acknowledged `bits` (InterruptACK).
    pub fn ack(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }

    /// Current ConfigGeneration value.
    pub fn config_generation(&self) -> u32 {
        self.config_generation.load(Ordering::SeqCst)
    }

    /// Tell the driver that the config space changed (bumps the generation first so a
    /// driver reading config sees the change).
    pub fn signal_config_change(&self) {
        self.config_generation.fetch_add(1, Ordering::SeqCst);
        self.raise(VIRTIO_MMIO_INT_CONFIG);
    }

    /// Puts back the saved InterruptStatus bits and generation (snapshot restore). Raises
    /// nothing: an interrupt the guest had not taken yet is in the restored irqchip.
    pub(crate) fn restore(&self, status: u32, config_generation: u32) {
        self.status.store(status, Ordering::SeqCst);
        self.config_generation
            .store(config_generation, Ordering::SeqCst);
    }

    /// Forget pending interrupt bits (device reset).
    pub(crate) fn clear(&self) {
        self.status.store(0, Ordering::SeqCst);
    }

    fn raise(&self, bit: u32) {
        self.status.fetch_or(bit, Ordering::SeqCst);
        if let Err(err) = self.irq.write(1) {
            // The eventfd counter only fails to grow at u64::MAX - 1: the guest has not
            // consumed billions of interrupts, so the line is asserted anyway.
            tracing::warn!("cannot signal virtio interrupt: {err}");
        }
    }
}

/// How a queue handler tells the guest that it put buffers in a used ring. A trait so the
/// pure queue handlers can be tested (and fuzzed) without an eventfd.
pub trait SignalUsedQueue {
    /// The used ring of some queue changed and the driver wants to hear about it.
    fn signal_used_queue(&self);
}

impl SignalUsedQueue for VirtioInterrupt {
    fn signal_used_queue(&self) {
        self.raise(VIRTIO_MMIO_INT_VRING);
    }
}

impl<T: SignalUsedQueue + ?Sized> SignalUsedQueue for Arc<T> {
    fn signal_used_queue(&self) {
        (**self).signal_used_queue();
    }
}

/// Copies `config[offset..]` into `data`; anything past the end of `config` reads as zero.
pub(crate) fn read_config_bytes(config: &[u8], offset: u64, data: &mut [u8]) {
    data.fill(0);
    let Ok(start) = usize::try_from(offset) else {
        return;
    };
    if let Some(src) = config.get(start..) {
        let n = src.len().min(data.len());
        data[..n].copy_from_slice(&src[..n]);
    }
}

/// Drains an eventfd; returns false when it had nothing (spurious wake-up) or failed.
pub(crate) fn drain_eventfd(evt: &EventFd) -> bool {
    match evt.read() {
        Ok(_) => true,
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(err) => {
            tracing::warn!("cannot read queue eventfd: {err}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fit_the_vmm_threading_model() {
        // The bus holds transports behind `Arc<Mutex<dyn MmioDevice>>` on vCPU threads and
        // the event loop holds `Arc<Mutex<dyn MutEventSubscriber + Send>>`.
        fn send<T: Send>() {}
        send::<MmioTransport<block::Block>>();
        send::<block::BlockEventHandler>();
        send::<MmioTransport<console::Console>>();
        send::<console::ConsoleEventHandler>();
        send::<console::ConsoleResizer>();
        send::<MmioTransport<balloon::Balloon>>();
        send::<balloon::BalloonEventHandler>();
        send::<MmioTransport<net::Net>>();
        send::<net::NetEventHandler>();
    }

    #[test]
    fn config_reads_past_end_are_zero() {
        let mut data = [0xffu8; 4];
        read_config_bytes(&[1, 2, 3], 1, &mut data);
        assert_eq!(data, [2, 3, 0, 0]);
        read_config_bytes(&[1, 2, 3], u64::MAX, &mut data);
        assert_eq!(data, [0; 4]);
    }

    #[test]
    fn interrupt_status_and_generation() {
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let int = VirtioInterrupt::new(irq.try_clone().unwrap());
        int.signal_used_queue();
        int.signal_config_change();
        assert_eq!(int.status(), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
        assert_eq!(int.config_generation(), 1);
        assert_eq!(irq.read().unwrap(), 2);
        int.ack(VIRTIO_MMIO_INT_VRING);
        assert_eq!(int.status(), VIRTIO_MMIO_INT_CONFIG);
        assert_eq!(
            virtio_mmio_cmdline_arg(0xd000_0000, 5),
            "virtio_mmio.device=4K@0xd0000000:5"
        );
    }
}
