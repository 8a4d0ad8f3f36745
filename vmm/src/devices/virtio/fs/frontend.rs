//! The vhost-user conversation with the backend: feature negotiation when the device is
//! made, then memory table and vrings when the driver activates it.

use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddress, GuestMemoryBackend};
use vmm_sys_util::eventfd::EventFd;

use crate::devices::virtio::{GuestMemoryMmap, VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX};

/// virtio feature bit: indirect descriptors.
const VIRTIO_RING_F_INDIRECT_DESC: u32 = virtio_bindings::virtio_ring::VIRTIO_RING_F_INDIRECT_DESC;

/// The virtio features the guest may negotiate with the backend through this transport:
/// split rings only (the transport programs split-ring addresses).
pub(super) const GUEST_FEATURES: u64 =
    (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_RING_F_EVENT_IDX) | (1 << VIRTIO_RING_F_INDIRECT_DESC);

/// A connected backend and what it offered.
pub(super) struct Backend {
    frontend: Frontend,
    /// The backend's virtio features, less vhost-user's own bit.
    pub features: u64,
    /// It speaks vhost-user protocol features (vrings then start disabled).
    protocol: bool,
}

impl Backend {
    /// Connects to the backend at `socket` and negotiates the protocol.
    pub(super) fn connect(socket: &std::path::Path, queues: u64) -> vhost::Result<Self> {
        let mut frontend = Frontend::connect(socket, queues)?;
        frontend.set_owner()?;
        let offered = frontend.get_features()?;
        let protocol_bit = VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits();
        let protocol = offered & protocol_bit != 0;
        if protocol {
            let supported = frontend.get_protocol_features()?;
            frontend.set_protocol_features(supported & VhostUserProtocolFeatures::MQ)?;
        }
        Ok(Self {
            frontend,
            features: offered & !protocol_bit,
            protocol,
        })
    }

    /// Hands the backend the driver's choices: `acked` features, guest memory, and each
    /// queue with its kick and call eventfds; then enables the rings.
    pub(super) fn activate(
        &mut self,
        acked: u64,
        mem: &GuestMemoryMmap,
        queues: &[Queue],
        kicks: &[EventFd],
        calls: &[EventFd],
    ) -> vhost::Result<()> {
        let protocol_bit = if self.protocol {
            VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
        } else {
            0
        };
        self.frontend.set_features(acked | protocol_bit)?;
        let regions = mem
            .iter()
            .map(VhostUserMemoryRegionInfo::from_guest_region)
            .collect::<vhost::Result<Vec<_>>>()?;
        self.frontend.set_mem_table(&regions)?;
        for (index, queue) in queues.iter().enumerate() {
            let host = |addr: u64| -> vhost::Result<u64> {
                mem.get_host_address(GuestAddress(addr))
                    .map(|p| p as u64)
                    .map_err(|_| vhost::Error::InvalidGuestMemory)
            };
            self.frontend.set_vring_num(index, queue.size())?;
            let config = VringConfigData {
                queue_max_size: queue.max_size(),
                queue_size: queue.size(),
                flags: 0,
                desc_table_addr: host(queue.desc_table())?,
                used_ring_addr: host(queue.used_ring())?,
                avail_ring_addr: host(queue.avail_ring())?,
                log_addr: None,
            };
            self.frontend.set_vring_addr(index, &config)?;
            self.frontend.set_vring_base(index, 0)?;
            self.frontend.set_vring_call(index, &calls[index])?;
            self.frontend.set_vring_kick(index, &kicks[index])?;
            if self.protocol {
                self.frontend.set_vring_enable(index, true)?;
            }
        }
        Ok(())
    }

    /// Stops the rings (device reset): disabled, then their state fetched, which the
    /// backend answers only once it has stopped using them.
    pub(super) fn stop(&mut self, queues: usize) {
        for index in 0..queues {
            if self.protocol {
                let _ = self.frontend.set_vring_enable(index, false);
            }
            let _ = self.frontend.get_vring_base(index);
        }
    }
}
