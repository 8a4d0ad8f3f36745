//! The virtio-blk device model: features, config space, and handing the live queue to the
//! event-loop half on activation.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use virtio_bindings::virtio_blk::{
    VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_F_SEG_MAX,
};
use vmm_sys_util::eventfd::EventFd;

use super::event_handler::BlockEventHandler;
use super::queue_handler::BlockQueueHandler;
use super::request::{FileDisk, SECTOR_SIZE, SERIAL_LEN};
use crate::devices::virtio::{
    read_config_bytes, ActivateError, Activation, GuestMemoryMmap, VirtioDevice, VirtioInterrupt,
    VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX,
};

/// virtio device id of a block device.
const VIRTIO_ID_BLOCK: u32 = 2;
/// Logical block size we advertise (BLK_SIZE): plain 512-byte sectors.
const BLK_SIZE: u32 = 512;
/// Descriptors per queue: Linux's default request size (128 KiB in 4 KiB pages) plus
/// header and status fits many times over.
pub const QUEUE_SIZE: u16 = 256;
/// Data segments per request we accept (a chain can never be longer than the queue).
pub const SEG_MAX: u32 = QUEUE_SIZE as u32 - 2;

/// The queue handler of a live disk: real guest memory, a host file, the irqfd.
pub(super) type FileQueueHandler =
    BlockQueueHandler<GuestMemoryMmap, FileDisk, Arc<VirtioInterrupt>>;
/// Shared between the device (activate/reset, vCPU thread) and its event handler.
pub(super) type SharedHandler = Arc<Mutex<Option<FileQueueHandler>>>;

/// What hull asks for when it attaches a disk.
#[derive(Debug, Clone)]
pub struct BlockArgs {
    /// The host file backing the disk.
    pub path: PathBuf,
    /// Advertise VIRTIO_BLK_F_RO and refuse writes.
    pub read_only: bool,
    /// What the guest reads in /sys/block/vdX/serial (at most 20 bytes).
    pub serial: String,
}

/// Why a disk could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The backing file cannot be opened.
    #[error("cannot open disk image {path}: check that it exists and is readable (and writable unless attached :ro)")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The serial does not fit virtio-blk's 20 bytes.
    #[error("disk serial {0:?} is longer than 20 bytes: choose a shorter name")]
    SerialTooLong(String),
    /// No eventfd for the queue.
    #[error("cannot create the queue eventfd (out of file descriptors?)")]
    EventFd(#[source] io::Error),
}

/// One virtio-blk disk.
pub struct Block {
    file: File,
    read_only: bool,
    serial: [u8; SERIAL_LEN],
    features: u64,
    config: [u8; 24],
    queue_sizes: [u16; 1],
    queue_evts: [EventFd; 1],
    handler: SharedHandler,
}

impl Block {
    /// Opens the disk and returns the device (for the MMIO transport) and its event-loop
    /// subscriber.
    pub fn new(args: BlockArgs) -> Result<(Self, BlockEventHandler), BlockError> {
        let serial_bytes = args.serial.as_bytes();
        if serial_bytes.len() > SERIAL_LEN {
            return Err(BlockError::SerialTooLong(args.serial));
        }
        let mut serial = [0u8; SERIAL_LEN];
        serial[..serial_bytes.len()].copy_from_slice(serial_bytes);

        let open_err = |source| BlockError::Open {
            path: args.path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(!args.read_only)
            .open(&args.path)
            .map_err(open_err)?;
        let size = file.metadata().map_err(open_err)?.len();
        if size % SECTOR_SIZE != 0 {
            tracing::warn!(
                "disk image {} is not a whole number of 512-byte sectors; the last {} bytes are not visible to the guest",
                args.path.display(),
                size % SECTOR_SIZE
            );
        }

        let mut features = (1u64 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_RING_F_EVENT_IDX)
            | (1 << VIRTIO_BLK_F_SEG_MAX)
            | (1 << VIRTIO_BLK_F_BLK_SIZE);
        features |= if args.read_only {
            1 << VIRTIO_BLK_F_RO
        } else {
            1 << VIRTIO_BLK_F_FLUSH
        };

        // struct virtio_blk_config: capacity (sectors), size_max, seg_max, geometry, blk_size.
        let mut config = [0u8; 24];
        config[0..8].copy_from_slice(&(size / SECTOR_SIZE).to_le_bytes());
        config[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        config[20..24].copy_from_slice(&BLK_SIZE.to_le_bytes());

        let queue_evt = EventFd::new(libc::EFD_NONBLOCK).map_err(BlockError::EventFd)?;
        let handler: SharedHandler = Arc::new(Mutex::new(None));
        let events = BlockEventHandler::new(
            queue_evt.try_clone().map_err(BlockError::EventFd)?,
            Arc::clone(&handler),
        );
        let device = Self {
            file,
            read_only: args.read_only,
            serial,
            features,
            config,
            queue_sizes: [QUEUE_SIZE],
            queue_evts: [queue_evt],
            handler,
        };
        Ok((device, events))
    }

    /// Disk size in 512-byte sectors, as the guest sees it.
    pub fn capacity(&self) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.config[0..8]);
        u64::from_le_bytes(bytes)
    }

    /// Whether the driver brought the disk up.
    pub fn is_active(&self) -> bool {
        self.handler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_BLOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }

    fn avail_features(&self) -> u64 {
        self.features
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.config, offset, data);
    }

    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        let queue = activation
            .queues
            .into_iter()
            .next()
            .ok_or(ActivateError::BadQueue(0))?;
        let file = self.file.try_clone().map_err(ActivateError::Backend)?;
        let disk = FileDisk::new(file).map_err(ActivateError::Backend)?;
        let handler = BlockQueueHandler::new(
            activation.mem,
            queue,
            disk,
            activation.interrupt,
            self.read_only,
            self.serial,
            SEG_MAX,
        );
        *self.handler.lock().unwrap_or_else(PoisonError::into_inner) = Some(handler);
        // Requests the driver queued before DRIVER_OK get served now.
        if let Err(err) = self.queue_evts[0].write(1) {
            tracing::warn!("virtio-blk: cannot kick the queue after activation: {err}");
        }
        Ok(())
    }

    fn reset(&mut self) {
        *self.handler.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn used_indices(&self) -> Result<Vec<u16>, String> {
        let handler = self.handler.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(handler.iter().map(FileQueueHandler::used_index).collect())
    }
}
