//! The virtio-balloon device model: free page reporting only, three queues (inflate,
//! deflate, reporting: Linux numbers the queues it uses consecutively, and without
//! STATS_VQ and FREE_PAGE_HINT the reporting queue is the third).

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use vmm_sys_util::eventfd::EventFd;

use super::event_handler::BalloonEventHandler;
use super::queue_handler::{BalloonQueueHandler, MadviseDiscard};
use crate::devices::virtio::{
    read_config_bytes, ActivateError, Activation, GuestMemoryMmap, VirtioDevice, VirtioInterrupt,
    VIRTIO_F_VERSION_1,
};

/// virtio device id of a memory balloon.
const VIRTIO_ID_BALLOON: u32 = 5;
/// Feature bit: the device has a free page reporting queue (virtio 1.2, 5.5.3).
pub const VIRTIO_BALLOON_F_REPORTING: u32 = 5;
/// Entries per queue.
pub const QUEUE_SIZE: u16 = 128;
/// Index of the reporting queue.
pub(super) const REPORTING_QUEUE: usize = 2;

/// The queue handler of a live balloon.
pub(super) type LiveHandler =
    BalloonQueueHandler<GuestMemoryMmap, MadviseDiscard, Arc<VirtioInterrupt>>;
/// The live handlers (inflate, deflate, reporting), shared with the event handler.
pub(super) type SharedHandlers = Arc<Mutex<Option<Vec<LiveHandler>>>>;

/// Why the balloon could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BalloonError {
    /// No eventfd for a queue.
    #[error("cannot create a balloon queue eventfd (out of file descriptors?)")]
    EventFd(#[source] io::Error),
}

/// The balloon device.
pub struct Balloon {
    /// struct virtio_balloon_config: num_pages, actual, free_page_hint_cmd_id, poison_val.
    config: [u8; 16],
    queue_sizes: [u16; 3],
    queue_evts: [EventFd; 3],
    handlers: SharedHandlers,
    shared_memory: bool,
}

impl Balloon {
    /// The device (for the MMIO transport) and its event-loop subscriber; `shared_memory`
    /// when guest RAM is a shared memfd mapping.
    pub fn new(shared_memory: bool) -> Result<(Self, BalloonEventHandler), BalloonError> {
        let evt = || EventFd::new(libc::EFD_NONBLOCK).map_err(BalloonError::EventFd);
        let queue_evts = [evt()?, evt()?, evt()?];
        let handlers: SharedHandlers = Arc::new(Mutex::new(None));
        let clones = queue_evts
            .iter()
            .map(|e| e.try_clone().map_err(BalloonError::EventFd))
            .collect::<Result<Vec<_>, _>>()?;
        let events = BalloonEventHandler::new(clones, Arc::clone(&handlers));
        Ok((
            Self {
                config: [0; 16],
                queue_sizes: [QUEUE_SIZE; 3],
                queue_evts,
                handlers,
                shared_memory,
            },
            events,
        ))
    }

    /// Bytes given back to the host so far.
    pub fn discarded(&self) -> u64 {
        self.handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|h| h.get(REPORTING_QUEUE))
            .map_or(0, |h| h.discarder().discarded)
    }
}

impl VirtioDevice for Balloon {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_BALLOON
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }

    fn avail_features(&self) -> u64 {
        (1u64 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_BALLOON_F_REPORTING)
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.config, offset, data);
    }

    fn write_config(&mut self, offset: u64, data: &[u8]) {
        // The driver writes `actual` (bytes 4..8); everything else is the device's.
        if offset == 4 && data.len() == 4 {
            self.config[4..8].copy_from_slice(data);
        }
    }

    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        if activation.queues.len() != 3 {
            return Err(ActivateError::BadQueue(activation.queues.len()));
        }
        let handlers = activation
            .queues
            .into_iter()
            .enumerate()
            .map(|(index, queue)| {
                BalloonQueueHandler::new(
                    Arc::clone(&activation.mem),
                    queue,
                    MadviseDiscard {
                        discarded: 0,
                        shared: self.shared_memory,
                    },
                    Arc::clone(&activation.interrupt),
                    index == REPORTING_QUEUE,
                )
            })
            .collect();
        *self.handlers.lock().unwrap_or_else(PoisonError::into_inner) = Some(handlers);
        for evt in &self.queue_evts {
            if let Err(err) = evt.write(1) {
                tracing::warn!("virtio-balloon: cannot kick a queue after activation: {err}");
            }
        }
        Ok(())
    }

    fn used_indices(&self) -> Result<Vec<u16>, String> {
        let handlers = self.handlers.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(handlers
            .iter()
            .flatten()
            .map(LiveHandler::used_index)
            .collect())
    }

    fn reset(&mut self) {
        *self.handlers.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_reporting_and_an_empty_balloon() {
        let (mut balloon, _events) = Balloon::new(false).unwrap();
        assert_eq!(balloon.device_type(), 5);
        assert_eq!(balloon.queue_max_sizes().len(), 3);
        assert_ne!(
            balloon.avail_features() & (1 << VIRTIO_BALLOON_F_REPORTING),
            0
        );
        let mut num_pages = [0xffu8; 4];
        balloon.read_config(0, &mut num_pages);
        assert_eq!(num_pages, [0; 4], "never asks the guest to inflate");
        balloon.write_config(4, &[1, 2, 3, 4]);
        balloon.write_config(0, &[9, 9, 9, 9]);
        let mut config = [0u8; 8];
        balloon.read_config(0, &mut config);
        assert_eq!(config, [0, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(balloon.discarded(), 0);
    }
}
