//! Saving and restoring a virtio-mmio transport: the registers the driver wrote, each
//! queue's layout and how far the device got in it, the interrupt state. The device's
//! host side (file, socket, tap) is not state: a restore attaches the new container's.
//!
//! A live device is re-activated on restore with its queues where they stood, so the guest
//! driver never notices. Every value comes from a file and is checked as guest input is:
//! a queue size the device does not offer, rings outside guest memory or a device of
//! another type make the restore fail, never panic or index out of bounds.

use serde::{Deserialize, Serialize};
use virtio_queue::{Queue, QueueState, QueueT};

use super::mmio::status;
use super::{MmioTransport, VirtioDevice};

/// One queue as the transport and the live device knew it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    /// Size the driver chose.
    pub size: u16,
    /// QueueReady.
    pub ready: bool,
    /// Descriptor table, available (driver) and used (device) ring addresses.
    pub desc_table: u64,
    /// Driver area.
    pub avail_ring: u64,
    /// Device area.
    pub used_ring: u64,
    /// The device's used index: chains completed so far (wrapping).
    pub next_used: u16,
}

/// A virtio-mmio transport's saved registers and queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportState {
    /// virtio device id, checked against the device restored into.
    pub device_type: u32,
    /// Device status register.
    pub status: u32,
    /// QueueSel.
    pub queue_select: u32,
    /// DeviceFeaturesSel.
    pub device_features_select: u32,
    /// DriverFeaturesSel.
    pub driver_features_select: u32,
    /// Features the driver accepted.
    pub acked_features: u64,
    /// InterruptStatus bits not yet acknowledged.
    pub interrupt_status: u32,
    /// ConfigGeneration.
    pub config_generation: u32,
    /// One per device queue.
    pub queues: Vec<QueueSnapshot>,
}

/// Why a transport's state could not be saved or restored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PersistError {
    /// The device cannot be snapshotted at all (e.g. vhost-user-fs).
    #[error("{0}")]
    Unsupported(String),
    /// The saved device is of another type than the one in this slot.
    #[error("the snapshot has a virtio device of type {saved} where this VM has type {here}")]
    DeviceType {
        /// Type in the file.
        saved: u32,
        /// Type here.
        here: u32,
    },
    /// The saved queue count differs from the device's.
    #[error(
        "the snapshot's virtio device (type {device_type}) has {saved} queues, this one has {here}"
    )]
    QueueCount {
        /// Device type.
        device_type: u32,
        /// Queues in the file.
        saved: usize,
        /// Queues here.
        here: usize,
    },
    /// A saved queue is not one the device could have had.
    #[error(
        "queue {index} of the snapshot's virtio device (type {device_type}) is invalid: {why}"
    )]
    BadQueue {
        /// Device type.
        device_type: u32,
        /// Queue index.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// Offered features do not cover what the driver had accepted.
    #[error("the snapshot's virtio device (type {device_type}) acked features {acked:#x} this device does not offer ({offered:#x})")]
    Features {
        /// Device type.
        device_type: u32,
        /// Acked in the file.
        acked: u64,
        /// Offered here.
        offered: u64,
    },
}

/// A transport as the snapshot code sees it (any device type).
pub trait TransportPersist: Send {
    /// The transport's state; the device must be quiescent (vCPUs and event loop paused).
    fn save_state(&self) -> Result<TransportState, PersistError>;
    /// Puts this freshly built transport where `state` was.
    fn restore_state(&mut self, state: &TransportState) -> Result<(), PersistError>;
}

impl<D: VirtioDevice> TransportPersist for MmioTransport<D> {
    fn save_state(&self) -> Result<TransportState, PersistError> {
        let live =
            self.status & status::DRIVER_OK != 0 && self.status & status::DEVICE_NEEDS_RESET == 0;
        let used = if live {
            self.device
                .used_indices()
                .map_err(PersistError::Unsupported)?
        } else {
            Vec::new()
        };
        let queues = self
            .queues
            .iter()
            .enumerate()
            .map(|(index, q)| QueueSnapshot {
                size: q.size(),
                ready: q.ready(),
                desc_table: q.desc_table(),
                avail_ring: q.avail_ring(),
                used_ring: q.used_ring(),
                next_used: used.get(index).copied().unwrap_or(0),
            })
            .collect();
        Ok(TransportState {
            device_type: self.device.device_type(),
            status: self.status,
            queue_select: self.queue_select,
            device_features_select: self.device_features_select,
            driver_features_select: self.driver_features_select,
            acked_features: self.acked_features,
            interrupt_status: self.interrupt.status(),
            config_generation: self.interrupt.config_generation(),
            queues,
        })
    }

    /// Re-activates a live device with its queues where they stood. Chains the device had
    /// taken but not completed are taken again (the available index is rewound to the
    /// used one): every device here completes chains in the order it takes them, so those
    /// are exactly the chains after the used index.
    fn restore_state(&mut self, state: &TransportState) -> Result<(), PersistError> {
        let device_type = self.device.device_type();
        if state.device_type != device_type {
            return Err(PersistError::DeviceType {
                saved: state.device_type,
                here: device_type,
            });
        }
        if state.queues.len() != self.queues.len() {
            return Err(PersistError::QueueCount {
                device_type,
                saved: state.queues.len(),
                here: self.queues.len(),
            });
        }
        let offered = self.device.avail_features();
        if state.acked_features & !offered != 0 {
            return Err(PersistError::Features {
                device_type,
                acked: state.acked_features,
                offered,
            });
        }
        let live =
            state.status & status::DRIVER_OK != 0 && state.status & status::DEVICE_NEEDS_RESET == 0;
        let mut queues = Vec::with_capacity(state.queues.len());
        for (index, (saved, fresh)) in state.queues.iter().zip(&self.queues).enumerate() {
            let bad = |why: String| PersistError::BadQueue {
                device_type,
                index,
                why,
            };
            let queue = Queue::try_from(QueueState {
                // The device's maximum, not the file's: a file cannot grow a queue.
                max_size: fresh.max_size(),
                next_avail: saved.next_used,
                next_used: saved.next_used,
                event_idx_enabled: false,
                size: saved.size,
                ready: saved.ready,
                desc_table: saved.desc_table,
                avail_ring: saved.avail_ring,
                used_ring: saved.used_ring,
            })
            .map_err(|e| bad(e.to_string()))?;
            if live && !queue.is_valid(&*self.mem) {
                return Err(bad("not ready or outside guest memory".into()));
            }
            queues.push(queue);
        }
        self.queues = queues;
        self.queue_select = state.queue_select;
        self.device_features_select = state.device_features_select;
        self.driver_features_select = state.driver_features_select;
        self.acked_features = state.acked_features;
        self.interrupt
            .restore(state.interrupt_status, state.config_generation);
        self.status = state.status;
        if live {
            // The same path as the driver's DRIVER_OK write: the device gets its queues
            // (with the saved indices) and the new host side starts serving them.
            self.activate();
        }
        Ok(())
    }
}
