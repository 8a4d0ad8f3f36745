//! virtio-mmio transport, virtio 1.x "modern" register layout (version 2).
//!
//! The registers are the spec's (virtio 1.2, 4.2.2). Everything the guest writes is
//! validated here: unknown registers, odd access sizes and writes in the wrong device state
//! are ignored (and logged at debug level), never a panic.

use std::sync::Arc;

use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::EventFd;

use super::{
    Activation, GuestMemoryMmap, VirtioDevice, VirtioInterrupt, VIRTIO_F_VERSION_1,
    VIRTIO_RING_F_EVENT_IDX,
};
use crate::devices::MmioDevice;

/// Bytes of MMIO space each device occupies (the `4K` in `virtio_mmio.device=4K@...`).
pub const MMIO_DEVICE_SIZE: u64 = 0x1000;
/// Offset of QueueNotify: the ioeventfd address is `base + NOTIFY_REG_OFFSET`, datamatch the
/// queue index (4-byte write).
pub const NOTIFY_REG_OFFSET: u64 = 0x50;

/// "virt" in little endian.
const MMIO_MAGIC: u32 = 0x7472_6976;
/// The modern (virtio 1.x) register layout.
const MMIO_VERSION: u32 = 2;
/// Our vendor id: "HULL" (any value is allowed; the Linux driver ignores it).
const VENDOR_ID: u32 = 0x4c4c_5548;
/// Device-specific config space starts here.
const CONFIG_SPACE_OFFSET: u64 = 0x100;

const REG_MAGIC: u64 = 0x00;
const REG_VERSION: u64 = 0x04;
const REG_DEVICE_ID: u64 = 0x08;
const REG_VENDOR_ID: u64 = 0x0c;
const REG_DEVICE_FEATURES: u64 = 0x10;
const REG_DEVICE_FEATURES_SEL: u64 = 0x14;
const REG_DRIVER_FEATURES: u64 = 0x20;
const REG_DRIVER_FEATURES_SEL: u64 = 0x24;
const REG_QUEUE_SEL: u64 = 0x30;
const REG_QUEUE_NUM_MAX: u64 = 0x34;
const REG_QUEUE_NUM: u64 = 0x38;
const REG_QUEUE_READY: u64 = 0x44;
const REG_INTERRUPT_STATUS: u64 = 0x60;
const REG_INTERRUPT_ACK: u64 = 0x64;
const REG_STATUS: u64 = 0x70;
const REG_QUEUE_DESC_LOW: u64 = 0x80;
const REG_QUEUE_DESC_HIGH: u64 = 0x84;
const REG_QUEUE_DRIVER_LOW: u64 = 0x90;
const REG_QUEUE_DRIVER_HIGH: u64 = 0x94;
const REG_QUEUE_DEVICE_LOW: u64 = 0xa0;
const REG_QUEUE_DEVICE_HIGH: u64 = 0xa4;
const REG_SHM_LEN_LOW: u64 = 0xb0;
const REG_SHM_LEN_HIGH: u64 = 0xb4;
const REG_CONFIG_GENERATION: u64 = 0xfc;

/// Device status bits (virtio 1.2, 2.1).
pub mod status {
    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u32 = 2;
    /// The driver is ready: queues are live.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 0x80;
}

/// A virtio device on the MMIO bus.
pub struct MmioTransport<D: VirtioDevice> {
    pub(super) device: D,
    pub(super) mem: Arc<GuestMemoryMmap>,
    pub(super) interrupt: Arc<VirtioInterrupt>,
    pub(super) queues: Vec<Queue>,
    pub(super) queue_select: u32,
    pub(super) device_features_select: u32,
    pub(super) driver_features_select: u32,
    pub(super) acked_features: u64,
    pub(super) status: u32,
}

impl<D: VirtioDevice> MmioTransport<D> {
    /// Puts `device` behind a virtio-mmio register window; `irq` is the eventfd the VMM
    /// registers as irqfd for the device's GSI.
    pub fn new(device: D, mem: Arc<GuestMemoryMmap>, irq: EventFd) -> Self {
        let queues = Self::fresh_queues(&device);
        Self {
            device,
            mem,
            interrupt: Arc::new(VirtioInterrupt::new(irq)),
            queues,
            queue_select: 0,
            device_features_select: 0,
            driver_features_select: 0,
            acked_features: 0,
            status: 0,
        }
    }

    /// The queue-notify eventfds, with their queue index, for ioeventfd registration at
    /// `base + NOTIFY_REG_OFFSET` (datamatch = queue index, 4 bytes).
    pub fn queue_notify_eventfds(&self) -> Vec<(u16, &EventFd)> {
        (0u16..)
            .zip(self.device.queue_events())
            .collect::<Vec<(u16, &EventFd)>>()
    }

    /// Owned duplicates of the queue-notify eventfds (same kernel object), for callers that
    /// move the transport onto the bus before registering the ioeventfds.
    pub fn try_clone_queue_notify_eventfds(&self) -> std::io::Result<Vec<(u16, EventFd)>> {
        self.queue_notify_eventfds()
            .into_iter()
            .map(|(queue, fd)| Ok((queue, fd.try_clone()?)))
            .collect()
    }

    /// The device behind the transport.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The device behind the transport, mutably.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// The device's interrupt state (shared with the device once it is active).
    pub fn interrupt(&self) -> &Arc<VirtioInterrupt> {
        &self.interrupt
    }

    /// Current device status register value.
    pub fn status(&self) -> u32 {
        self.status
    }

    fn fresh_queues(device: &D) -> Vec<Queue> {
        device
            .queue_max_sizes()
            .iter()
            // Queue::new only refuses sizes that are not a power of two <= 32768; a device
            // with such a size is a programming error caught by the device's own tests, so
            // such a queue simply stays absent (QueueNumMax reads 0).
            .filter_map(|&max| Queue::new(max).ok())
            .collect()
    }

    fn selected_queue(&mut self) -> Option<&mut Queue> {
        let index = usize::try_from(self.queue_select).ok()?;
        self.queues.get_mut(index)
    }

    /// Queue layout registers may change only while the driver sets the device up.
    fn queue_config_allowed(&self) -> bool {
        self.status & status::FEATURES_OK != 0
            && self.status & (status::DRIVER_OK | status::FAILED) == 0
    }

    fn read_register(&self, offset: u64) -> u32 {
        match offset {
            REG_MAGIC => MMIO_MAGIC,
            REG_VERSION => MMIO_VERSION,
            REG_DEVICE_ID => self.device.device_type(),
            REG_VENDOR_ID => VENDOR_ID,
            REG_DEVICE_FEATURES => match self.device_features_select {
                0 => low_half(self.device.avail_features()),
                1 => high_half(self.device.avail_features()),
                _ => 0,
            },
            REG_QUEUE_NUM_MAX => usize::try_from(self.queue_select)
                .ok()
                .and_then(|i| self.queues.get(i))
                .map_or(0, |q| u32::from(q.max_size())),
            REG_QUEUE_READY => usize::try_from(self.queue_select)
                .ok()
                .and_then(|i| self.queues.get(i))
                .map_or(0, |q| u32::from(q.ready())),
            REG_INTERRUPT_STATUS => self.interrupt.status(),
            REG_STATUS => self.status,
            // No shared memory regions: length reads as all ones (virtio 1.2, 4.2.2).
            REG_SHM_LEN_LOW | REG_SHM_LEN_HIGH => u32::MAX,
            REG_CONFIG_GENERATION => self.interrupt.config_generation(),
            _ => {
                tracing::debug!("virtio-mmio: read of unknown register {offset:#x}");
                0
            }
        }
    }

    fn write_register(&mut self, offset: u64, value: u32) {
        match offset {
            REG_DEVICE_FEATURES_SEL => self.device_features_select = value,
            REG_DRIVER_FEATURES_SEL => self.driver_features_select = value,
            REG_DRIVER_FEATURES => self.write_driver_features(value),
            REG_QUEUE_SEL => self.queue_select = value,
            REG_QUEUE_NUM | REG_QUEUE_READY | REG_QUEUE_DESC_LOW..=REG_QUEUE_DEVICE_HIGH => {
                self.write_queue_register(offset, value)
            }
            NOTIFY_REG_OFFSET => self.notify(value),
            REG_INTERRUPT_ACK => self.interrupt.ack(value),
            REG_STATUS => self.write_status(value),
            _ => {
                tracing::debug!("virtio-mmio: write of {value:#x} to register {offset:#x} ignored")
            }
        }
    }

    fn write_driver_features(&mut self, value: u32) {
        if self.status & status::DRIVER == 0 || self.status & status::FEATURES_OK != 0 {
            tracing::debug!("virtio-mmio: driver features written outside negotiation");
            return;
        }
        // Only what the device offered can be acked; the rest is silently dropped and
        // FEATURES_OK then tells the driver what stuck.
        let offered = self.device.avail_features();
        match self.driver_features_select {
            0 => {
                self.acked_features =
                    (self.acked_features & !0xffff_ffff) | (u64::from(value) & offered);
            }
            1 => {
                self.acked_features =
                    (self.acked_features & 0xffff_ffff) | ((u64::from(value) << 32) & offered);
            }
            _ => {}
        }
    }

    fn write_queue_register(&mut self, offset: u64, value: u32) {
        if !self.queue_config_allowed() {
            tracing::debug!(
                "virtio-mmio: queue register {offset:#x} written in status {:#x}",
                self.status
            );
            return;
        }
        let Some(queue) = self.selected_queue() else {
            return;
        };
        if offset == REG_QUEUE_READY {
            queue.set_ready(value == 1);
            return;
        }
        if queue.ready() {
            // The spec forbids changing a live queue's layout.
            return;
        }
        match offset {
            // set_size refuses (and logs) sizes that are 0, > max or not a power of two.
            REG_QUEUE_NUM => queue.set_size(u16::try_from(value).unwrap_or(0)),
            REG_QUEUE_DESC_LOW => queue.set_desc_table_address(Some(value), None),
            REG_QUEUE_DESC_HIGH => queue.set_desc_table_address(None, Some(value)),
            REG_QUEUE_DRIVER_LOW => queue.set_avail_ring_address(Some(value), None),
            REG_QUEUE_DRIVER_HIGH => queue.set_avail_ring_address(None, Some(value)),
            REG_QUEUE_DEVICE_LOW => queue.set_used_ring_address(Some(value), None),
            REG_QUEUE_DEVICE_HIGH => queue.set_used_ring_address(None, Some(value)),
            _ => {}
        }
    }

    /// A QueueNotify write that did not go through an ioeventfd: forward it to the same
    /// eventfd so the work still happens on the event loop.
    fn notify(&self, queue_index: u32) {
        let evt = usize::try_from(queue_index)
            .ok()
            .and_then(|i| self.device.queue_events().get(i));
        if let Some(evt) = evt {
            if let Err(err) = evt.write(1) {
                tracing::warn!("virtio-mmio: cannot forward queue notify: {err}");
            }
        }
    }

    fn write_status(&mut self, value: u32) {
        if value == 0 {
            self.reset();
            return;
        }
        // The driver only ever adds bits (2.1.2); anything else is a confused driver.
        if value & self.status != self.status {
            tracing::debug!(
                "virtio-mmio: status {value:#x} drops bits of {:#x}",
                self.status
            );
            return;
        }
        let new_bits = value & !self.status;
        let mut accepted = value;
        if new_bits & status::FEATURES_OK != 0 && !self.features_acceptable() {
            // Leaving FEATURES_OK clear is how a device refuses the negotiated set.
            accepted &= !status::FEATURES_OK;
        }
        if new_bits & status::DRIVER_OK != 0 {
            if accepted & status::FEATURES_OK == 0 {
                return;
            }
            self.status = accepted;
            self.activate();
            return;
        }
        self.status = accepted;
    }

    /// We are a modern-only device: a driver that did not accept VERSION_1 cannot use us.
    fn features_acceptable(&self) -> bool {
        self.status & status::DRIVER != 0 && self.acked_features & (1 << VIRTIO_F_VERSION_1) != 0
    }

    pub(super) fn activate(&mut self) {
        let event_idx = self.acked_features & (1 << VIRTIO_RING_F_EVENT_IDX) != 0;
        let mem: &GuestMemoryMmap = &self.mem;
        let bad_queue = self.queues.iter().position(|q| !q.is_valid(mem));
        if let Some(index) = bad_queue {
            tracing::warn!(
                "virtio-mmio: queue {index} of device type {} is unusable",
                self.device.device_type()
            );
            self.fail();
            return;
        }
        // The device gets its own copies; the transport keeps answering register reads.
        let mut queues = Vec::with_capacity(self.queues.len());
        for (index, q) in self.queues.iter().enumerate() {
            let Ok(mut live) = Queue::try_from(q.state()) else {
                tracing::warn!("virtio-mmio: queue {index} has an invalid layout");
                self.fail();
                return;
            };
            live.set_event_idx(event_idx);
            queues.push(live);
        }
        let activation = Activation {
            mem: Arc::clone(&self.mem),
            queues,
            acked_features: self.acked_features,
            interrupt: Arc::clone(&self.interrupt),
        };
        if let Err(err) = self.device.activate(activation) {
            tracing::warn!(
                "virtio-mmio: device type {} failed to start: {err}",
                self.device.device_type()
            );
            self.fail();
        }
    }

    /// Tells the driver the device is unusable until it resets it.
    fn fail(&mut self) {
        self.status |= status::DEVICE_NEEDS_RESET;
        self.interrupt.signal_config_change();
    }

    fn reset(&mut self) {
        self.device.reset();
        self.queues = Self::fresh_queues(&self.device);
        self.interrupt.clear();
        self.queue_select = 0;
        self.device_features_select = 0;
        self.driver_features_select = 0;
        self.acked_features = 0;
        self.status = 0;
    }
}

impl<D: VirtioDevice> MmioDevice for MmioTransport<D> {
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= CONFIG_SPACE_OFFSET {
            self.device.read_config(offset - CONFIG_SPACE_OFFSET, data);
            return;
        }
        // Registers below the config space are 32-bit, naturally aligned (4.2.2.2).
        let Ok(bytes) = <&mut [u8; 4]>::try_from(&mut *data) else {
            data.fill(0);
            return;
        };
        *bytes = if offset.is_multiple_of(4) {
            self.read_register(offset).to_le_bytes()
        } else {
            [0; 4]
        };
    }

    fn mmio_write(&mut self, offset: u64, data: &[u8]) {
        if offset >= CONFIG_SPACE_OFFSET {
            self.device.write_config(offset - CONFIG_SPACE_OFFSET, data);
            return;
        }
        match <[u8; 4]>::try_from(data) {
            Ok(bytes) if offset.is_multiple_of(4) => {
                self.write_register(offset, u32::from_le_bytes(bytes))
            }
            _ => tracing::debug!(
                "virtio-mmio: {}-byte write at {offset:#x} ignored",
                data.len()
            ),
        }
    }
}

fn low_half(value: u64) -> u32 {
    (value & 0xffff_ffff) as u32
}

fn high_half(value: u64) -> u32 {
    (value >> 32) as u32
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use virtio_bindings::virtio_blk::{VIRTIO_BLK_F_RO, VIRTIO_BLK_T_IN};
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::{Bytes, GuestAddress};

    use super::*;
    use crate::devices::virtio::block::request::{RequestHeader, STATUS_OK};
    use crate::devices::virtio::block::{Block, BlockArgs, BlockEventHandler, QUEUE_SIZE};
    use crate::devices::virtio::test_utils::{add_chain, byte_at, test_memory, R, W};
    use crate::devices::virtio::VIRTIO_MMIO_INT_VRING;

    struct TempDisk(PathBuf);

    impl TempDisk {
        fn new(name: &str, sectors: usize) -> Self {
            let path =
                std::env::temp_dir().join(format!("hull-mmio-{name}-{}", std::process::id()));
            let data: Vec<u8> = (0..sectors * 512)
                .map(|i| u8::try_from(i / 512 + 1).unwrap())
                .collect();
            std::fs::write(&path, data).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDisk {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn block(
        disk: &TempDisk,
        read_only: bool,
    ) -> (MmioTransport<Block>, BlockEventHandler, EventFd) {
        let (dev, events) = Block::new(BlockArgs {
            path: disk.0.clone(),
            read_only,
            serial: "hull-layer-0".into(),
        })
        .unwrap();
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let transport = MmioTransport::new(dev, test_memory(), irq.try_clone().unwrap());
        (transport, events, irq)
    }

    fn read32(t: &mut MmioTransport<Block>, offset: u64) -> u32 {
        let mut data = [0u8; 4];
        t.mmio_read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    fn write32(t: &mut MmioTransport<Block>, offset: u64, value: u32) {
        t.mmio_write(offset, &value.to_le_bytes());
    }

    fn negotiate(t: &mut MmioTransport<Block>) {
        write32(t, REG_STATUS, status::ACKNOWLEDGE);
        write32(t, REG_STATUS, status::ACKNOWLEDGE | status::DRIVER);
        for sel in 0..2 {
            write32(t, REG_DEVICE_FEATURES_SEL, sel);
            let offered = read32(t, REG_DEVICE_FEATURES);
            write32(t, REG_DRIVER_FEATURES_SEL, sel);
            write32(t, REG_DRIVER_FEATURES, offered);
        }
        write32(
            t,
            REG_STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
        );
    }

    fn setup_queue(
        t: &mut MmioTransport<Block>,
        vq: &MockSplitQueue<'_, GuestMemoryMmap>,
        size: u32,
    ) {
        write32(t, REG_QUEUE_SEL, 0);
        write32(t, REG_QUEUE_NUM, size);
        write32(t, REG_QUEUE_DESC_LOW, low_half(vq.desc_table_addr().0));
        write32(t, REG_QUEUE_DESC_HIGH, high_half(vq.desc_table_addr().0));
        write32(t, REG_QUEUE_DRIVER_LOW, low_half(vq.avail_addr().0));
        write32(t, REG_QUEUE_DRIVER_HIGH, 0);
        write32(t, REG_QUEUE_DEVICE_LOW, low_half(vq.used_addr().0));
        write32(t, REG_QUEUE_DEVICE_HIGH, 0);
        write32(t, REG_QUEUE_READY, 1);
    }

    #[test]
    fn identity_registers() {
        let disk = TempDisk::new("id", 4);
        let (mut t, _, _) = block(&disk, false);
        assert_eq!(read32(&mut t, REG_MAGIC), 0x7472_6976);
        assert_eq!(read32(&mut t, REG_VERSION), 2);
        assert_eq!(read32(&mut t, REG_DEVICE_ID), 2);
        assert_eq!(read32(&mut t, REG_VENDOR_ID), VENDOR_ID);
        assert_eq!(read32(&mut t, REG_QUEUE_NUM_MAX), u32::from(QUEUE_SIZE));
        assert_eq!(read32(&mut t, REG_SHM_LEN_LOW), u32::MAX);
        // Odd sizes, misaligned and unknown offsets read as zero.
        let mut two = [0xffu8; 2];
        t.mmio_read(REG_MAGIC, &mut two);
        assert_eq!(two, [0, 0]);
        assert_eq!(read32(&mut t, REG_MAGIC + 1), 0);
        assert_eq!(read32(&mut t, 0xe8), 0);
        // Selecting a queue that does not exist.
        write32(&mut t, REG_QUEUE_SEL, 7);
        assert_eq!(read32(&mut t, REG_QUEUE_NUM_MAX), 0);
        // Config space: capacity in sectors, blk_size; past the end is zero.
        let mut cap = [0u8; 8];
        t.mmio_read(CONFIG_SPACE_OFFSET, &mut cap);
        assert_eq!(u64::from_le_bytes(cap), 4);
        assert_eq!(read32(&mut t, CONFIG_SPACE_OFFSET + 20), 512);
        assert_eq!(read32(&mut t, CONFIG_SPACE_OFFSET + 0x200), 0);
    }

    #[test]
    fn feature_negotiation() {
        let disk = TempDisk::new("feat", 4);
        let (mut t, _, _) = block(&disk, true);
        write32(&mut t, REG_DEVICE_FEATURES_SEL, 0);
        assert_ne!(
            read32(&mut t, REG_DEVICE_FEATURES) & (1 << VIRTIO_BLK_F_RO),
            0
        );
        write32(&mut t, REG_DEVICE_FEATURES_SEL, 1);
        assert_eq!(
            read32(&mut t, REG_DEVICE_FEATURES),
            1,
            "VERSION_1 is bit 32"
        );
        write32(&mut t, REG_DEVICE_FEATURES_SEL, 2);
        assert_eq!(read32(&mut t, REG_DEVICE_FEATURES), 0);

        // A legacy driver (no VERSION_1) does not get FEATURES_OK.
        write32(&mut t, REG_STATUS, status::ACKNOWLEDGE | status::DRIVER);
        write32(&mut t, REG_DRIVER_FEATURES_SEL, 0);
        write32(&mut t, REG_DRIVER_FEATURES, u32::MAX);
        write32(
            &mut t,
            REG_STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
        );
        assert_eq!(read32(&mut t, REG_STATUS) & status::FEATURES_OK, 0);
        // Unoffered bits never stick.
        assert_eq!(t.acked_features & !t.device().avail_features(), 0);

        write32(&mut t, REG_STATUS, 0);
        negotiate(&mut t);
        assert_ne!(read32(&mut t, REG_STATUS) & status::FEATURES_OK, 0);
        // Features are frozen after FEATURES_OK.
        let acked = t.acked_features;
        write32(&mut t, REG_DRIVER_FEATURES, 0);
        assert_eq!(t.acked_features, acked);
    }

    #[test]
    fn bring_up_notify_interrupt_and_reset() {
        let disk = TempDisk::new("up", 8);
        let (mut t, events, irq) = block(&disk, false);
        let mem = Arc::clone(&t.mem);
        let vq = MockSplitQueue::new(&*mem, 16);

        // Queue registers are ignored before FEATURES_OK.
        write32(&mut t, REG_QUEUE_NUM, 16);
        assert_eq!(t.queues[0].size(), QUEUE_SIZE);

        negotiate(&mut t);
        // Invalid sizes are refused.
        write32(&mut t, REG_QUEUE_NUM, 3);
        assert_eq!(t.queues[0].size(), QUEUE_SIZE);
        setup_queue(&mut t, &vq, 16);
        assert_eq!(read32(&mut t, REG_QUEUE_READY), 1);
        let st = read32(&mut t, REG_STATUS);
        write32(&mut t, REG_STATUS, st | status::DRIVER_OK);
        assert!(t.device().is_active());
        assert_eq!(read32(&mut t, REG_STATUS) & status::DEVICE_NEEDS_RESET, 0);
        // The activation kick finds nothing to do.
        assert_eq!(events.process(), 0);

        // Layout changes are refused while live.
        write32(&mut t, REG_QUEUE_DESC_LOW, 0x8000);
        assert_eq!(t.queues[0].desc_table(), vq.desc_table_addr().0);

        // Read sector 3 through a notify that did not go through an ioeventfd.
        let hdr = RequestHeader {
            request_type: VIRTIO_BLK_T_IN,
            reserved: 0,
            sector: 3,
        };
        mem.write_obj(hdr, GuestAddress(0x1000)).unwrap();
        add_chain(
            &vq,
            0,
            &[(0x1000, 16, R), (0x10000, 512, W), (0x3000, 1, W)],
        );
        let (queue, evt) = t.try_clone_queue_notify_eventfds().unwrap().remove(0);
        assert_eq!(queue, 0);
        let _ = evt.read();
        write32(&mut t, NOTIFY_REG_OFFSET, 0);
        assert_eq!(evt.read().unwrap(), 1, "notify reaches the queue eventfd");
        assert_eq!(events.process(), 1);
        assert_eq!(byte_at(&mem, 0x3000), STATUS_OK);
        assert_eq!(byte_at(&mem, 0x10000), 4);
        assert_eq!(irq.read().unwrap(), 1, "irqfd raised");
        assert_eq!(read32(&mut t, REG_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
        write32(&mut t, REG_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
        assert_eq!(read32(&mut t, REG_INTERRUPT_STATUS), 0);

        // Reset stops the device and forgets the queue.
        write32(&mut t, REG_STATUS, 0);
        assert!(!t.device().is_active());
        assert_eq!(read32(&mut t, REG_STATUS), 0);
        assert_eq!(read32(&mut t, REG_QUEUE_READY), 0);
        assert_eq!(events.process(), 0);
    }

    #[test]
    fn queue_outside_memory_needs_reset() {
        let disk = TempDisk::new("bad", 4);
        let (mut t, events, _irq) = block(&disk, false);
        negotiate(&mut t);
        write32(&mut t, REG_QUEUE_NUM, 16);
        write32(&mut t, REG_QUEUE_DESC_LOW, 0);
        write32(&mut t, REG_QUEUE_DESC_HIGH, 0x10);
        write32(&mut t, REG_QUEUE_READY, 1);
        let gen = read32(&mut t, REG_CONFIG_GENERATION);
        let st = read32(&mut t, REG_STATUS);
        write32(&mut t, REG_STATUS, st | status::DRIVER_OK);
        assert!(!t.device().is_active());
        assert_ne!(read32(&mut t, REG_STATUS) & status::DEVICE_NEEDS_RESET, 0);
        assert_ne!(read32(&mut t, REG_CONFIG_GENERATION), gen);
        assert_eq!(events.process(), 0);
        // DRIVER_OK before FEATURES_OK does nothing either.
        write32(&mut t, REG_STATUS, 0);
        write32(
            &mut t,
            REG_STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
        );
        assert!(!t.device().is_active());
    }

    #[test]
    fn any_offset_and_size_is_harmless() {
        let disk = TempDisk::new("fuzzregs", 4);
        let (mut t, _, _) = block(&disk, false);
        let mut seed: u64 = 0x1234_5678;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let offset = seed % 0x1100;
            let len = usize::try_from(seed >> 60).unwrap() % 9;
            let bytes = (seed >> 8).to_le_bytes();
            if seed & 1 == 0 {
                t.mmio_write(offset, &bytes[..len]);
            } else {
                let mut buf = [0u8; 8];
                t.mmio_read(offset, &mut buf[..len]);
            }
        }
    }
}
