//! The virtio-net device model: one RX/TX queue pair, the MAC in config space, offloads
//! negotiated with the driver and passed on to the tap at activation.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use vmm_sys_util::eventfd::EventFd;

use super::backend::HostNic;
use super::event_handler::NetEventHandler;
use super::header::{tap_offload, OFFERED_FEATURES};
use super::queue_handler::{NetCounters, NetQueueHandler};
use crate::devices::virtio::{
    read_config_bytes, ActivateError, Activation, GuestMemoryMmap, VirtioDevice, VirtioInterrupt,
};

/// virtio device id of a network card.
const VIRTIO_ID_NET: u32 = 1;
/// Descriptors per queue (Linux fills the whole RX ring with buffers).
pub const QUEUE_SIZE: u16 = 256;
/// Index of receiveq1 (the guest's RX) and transmitq1.
pub(super) const RX_QUEUE: usize = 0;
pub(super) const TX_QUEUE: usize = 1;

/// The data path of a live device.
pub(super) type LiveHandler =
    NetQueueHandler<GuestMemoryMmap, Box<dyn HostNic>, Arc<VirtioInterrupt>>;
/// Shared between the device (activate/reset, vCPU thread) and its event handler.
pub(super) type SharedHandler = Arc<Mutex<Option<LiveHandler>>>;

pub(super) fn lock(shared: &SharedHandler) -> std::sync::MutexGuard<'_, Option<LiveHandler>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What hull attaches: the host NIC (a tap) and the guest's MAC address.
pub struct NetArgs {
    /// The host side, e.g. a [`super::Tap`].
    pub host: Box<dyn HostNic>,
    /// The MAC address the guest reads from config space.
    pub mac: [u8; 6],
}

/// Why a NIC could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No eventfd for a queue, or the host NIC fd could not be duplicated.
    #[error("cannot create the network device's event fds (out of file descriptors?)")]
    Fds(#[source] io::Error),
}

/// One virtio-net NIC.
pub struct Net {
    host: Box<dyn HostNic>,
    /// struct virtio_net_config: mac, status, max_virtqueue_pairs, mtu (only mac is offered).
    config: [u8; 12],
    queue_sizes: [u16; 2],
    queue_evts: [EventFd; 2],
    handler: SharedHandler,
}

impl Net {
    /// The device (for the MMIO transport) and its event-loop subscriber.
    pub fn new(args: NetArgs) -> Result<(Self, NetEventHandler), NetError> {
        let evt = || EventFd::new(libc::EFD_NONBLOCK).map_err(NetError::Fds);
        let queue_evts = [evt()?, evt()?];
        let handler: SharedHandler = Arc::new(Mutex::new(None));
        let events = NetEventHandler::new(
            queue_evts[RX_QUEUE].try_clone().map_err(NetError::Fds)?,
            queue_evts[TX_QUEUE].try_clone().map_err(NetError::Fds)?,
            args.host.try_clone_nic().map_err(NetError::Fds)?,
            Arc::clone(&handler),
        );
        let mut config = [0u8; 12];
        config[..6].copy_from_slice(&args.mac);
        let device = Self {
            host: args.host,
            config,
            queue_sizes: [QUEUE_SIZE; 2],
            queue_evts,
            handler,
        };
        Ok((device, events))
    }

    /// Whether the driver brought the NIC up.
    pub fn is_active(&self) -> bool {
        lock(&self.handler).is_some()
    }

    /// Traffic and drop counters of the live data path (zero before activation).
    pub fn counters(&self) -> NetCounters {
        lock(&self.handler)
            .as_ref()
            .map(LiveHandler::counters)
            .unwrap_or_default()
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_NET
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }

    fn avail_features(&self) -> u64 {
        OFFERED_FEATURES
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.config, offset, data);
    }

    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        let acked = activation.acked_features;
        let mut queues = activation.queues.into_iter();
        let (Some(rx), Some(tx)) = (queues.next(), queues.next()) else {
            return Err(ActivateError::BadQueue(TX_QUEUE));
        };
        // The tap may only hand us frames the guest can take (partial checksums, GSO).
        self.host
            .set_offload(tap_offload(acked))
            .map_err(ActivateError::Backend)?;
        let backend = self.host.try_clone_nic().map_err(ActivateError::Backend)?;
        let handler =
            NetQueueHandler::new(activation.mem, rx, tx, backend, activation.interrupt, acked);
        *lock(&self.handler) = Some(handler);
        // Buffers posted before DRIVER_OK get used now, and RX starts reading the host.
        for evt in &self.queue_evts {
            if let Err(err) = evt.write(1) {
                tracing::warn!("virtio-net: cannot kick a queue after activation: {err}");
            }
        }
        Ok(())
    }

    fn used_indices(&self) -> Result<Vec<u16>, String> {
        Ok(lock(&self.handler)
            .as_ref()
            .map(|h| h.used_indices().to_vec())
            .unwrap_or_default())
    }

    fn reset(&mut self) {
        // A frame waiting for RX buffers goes with the handler, as on a NIC reset.
        *lock(&self.handler) = None;
    }
}
