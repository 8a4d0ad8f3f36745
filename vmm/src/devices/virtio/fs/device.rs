//! The vhost-user-fs device model: virtio device id 26, one high-priority queue and one
//! request queue, config space `tag[36] | num_request_queues: le32`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use vmm_sys_util::eventfd::EventFd;

use super::event_handler::{FsEventHandler, SharedInterrupt};
use super::frontend::{Backend, GUEST_FEATURES};
use crate::devices::virtio::{
    read_config_bytes, ActivateError, Activation, VirtioDevice, VIRTIO_F_VERSION_1,
};

/// virtio device id of a file system device.
const VIRTIO_ID_FS: u32 = 26;
/// The longest tag (bytes, not NUL-terminated when full).
pub const TAG_MAX_LEN: usize = 36;
/// hiprio + one request queue.
const QUEUES: usize = 2;
/// Entries per queue (QEMU's vhost-user-fs default is 128; FUSE requests are small).
const QUEUE_SIZE: u16 = 256;

/// What to attach.
#[derive(Debug, Clone)]
pub struct FsArgs {
    /// The backend's vhost-user socket (virtiofsd --socket-path).
    pub socket: PathBuf,
    /// The tag the guest mounts (`mount -t virtiofs TAG /mnt`).
    pub tag: String,
}

/// Why the device could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The tag is empty or longer than the config space holds.
    #[error("virtio-fs tag {0:?} must be 1 to 36 bytes")]
    BadTag(String),
    /// No eventfd.
    #[error("cannot create a virtio-fs eventfd (out of file descriptors?)")]
    EventFd(#[source] std::io::Error),
    /// The backend refused or is not there.
    #[error("vhost-user backend at {socket}: {source} (is virtiofsd running there?)")]
    Backend {
        /// Its socket.
        socket: PathBuf,
        /// The failure.
        #[source]
        source: vhost::Error,
    },
    /// The backend cannot do virtio 1.
    #[error("vhost-user backend at {0} does not offer VIRTIO_F_VERSION_1")]
    NotVersion1(PathBuf),
}

/// The device.
pub struct VhostUserFs {
    backend: Backend,
    config: [u8; TAG_MAX_LEN + 4],
    queue_sizes: [u16; QUEUES],
    kicks: [EventFd; QUEUES],
    calls: [EventFd; QUEUES],
    interrupt: SharedInterrupt,
    active: bool,
}

impl VhostUserFs {
    /// Connects to the backend and makes the device and its event-loop subscriber.
    pub fn new(args: &FsArgs) -> Result<(Self, FsEventHandler), FsError> {
        if args.tag.is_empty() || args.tag.len() > TAG_MAX_LEN {
            return Err(FsError::BadTag(args.tag.clone()));
        }
        let mut config = [0u8; TAG_MAX_LEN + 4];
        config[..args.tag.len()].copy_from_slice(args.tag.as_bytes());
        config[TAG_MAX_LEN..].copy_from_slice(&1u32.to_le_bytes());
        let backend =
            Backend::connect(&args.socket, QUEUES as u64).map_err(|source| FsError::Backend {
                socket: args.socket.clone(),
                source,
            })?;
        if backend.features & (1 << VIRTIO_F_VERSION_1) == 0 {
            return Err(FsError::NotVersion1(args.socket.clone()));
        }
        let evt = || EventFd::new(libc::EFD_NONBLOCK).map_err(FsError::EventFd);
        let kicks = [evt()?, evt()?];
        let calls = [evt()?, evt()?];
        let interrupt: SharedInterrupt = Arc::new(Mutex::new(None));
        let watched = calls
            .iter()
            .map(|e| e.try_clone().map_err(FsError::EventFd))
            .collect::<Result<Vec<_>, _>>()?;
        let events = FsEventHandler::new(watched, Arc::clone(&interrupt));
        Ok((
            Self {
                backend,
                config,
                queue_sizes: [QUEUE_SIZE; QUEUES],
                kicks,
                calls,
                interrupt,
                active: false,
            },
            events,
        ))
    }
}

impl VirtioDevice for VhostUserFs {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_FS
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn queue_events(&self) -> &[EventFd] {
        &self.kicks
    }

    fn avail_features(&self) -> u64 {
        self.backend.features & GUEST_FEATURES
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.config, offset, data);
    }

    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        if activation.queues.len() != QUEUES {
            return Err(ActivateError::BadQueue(activation.queues.len()));
        }
        *self
            .interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&activation.interrupt));
        self.backend
            .activate(
                activation.acked_features & GUEST_FEATURES,
                &activation.mem,
                &activation.queues,
                &self.kicks,
                &self.calls,
            )
            .map_err(|err| ActivateError::Backend(std::io::Error::other(err)))?;
        self.active = true;
        Ok(())
    }

    fn reset(&mut self) {
        if std::mem::take(&mut self.active) {
            self.backend.stop(QUEUES);
        }
        *self
            .interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}
