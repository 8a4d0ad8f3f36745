//! virtio-mmio slots: each device gets a 4 KiB window in the MMIO hole and its own GSI;
//! its queue notifications become ioeventfds and its interrupt an irqfd, and the kernel
//! learns about it from `virtio_mmio.device=4K@ADDR:GSI` on the command line.

use std::sync::{Arc, Mutex};

use linux_loader::cmdline::Cmdline;
use vmm_sys_util::eventfd::EventFd;

use super::bus::{Bus, BusError};
use super::lock;
use crate::arch::x86_64::layout::{
    GSI_VIRTIO_FIRST, MMIO_SLOT_SIZE, VIRTIO_MMIO_MAX_SLOTS, VIRTIO_MMIO_START,
};
use crate::devices::MmioDevice;
use crate::vstate::{Vm, VmError};

/// virtio-mmio QueueNotify register offset (virtio 1.x spec 4.2.2).
pub const QUEUE_NOTIFY_OFFSET: u64 = 0x50;

/// Errors attaching an MMIO device.
#[derive(Debug, thiserror::Error)]
pub enum MmioError {
    /// Every slot is taken.
    #[error("no free virtio-mmio slot: hull-vmm supports at most {VIRTIO_MMIO_MAX_SLOTS} devices")]
    NoSlot,
    /// Bus bookkeeping failed (a layout bug).
    #[error("cannot place the virtio-mmio device")]
    Bus(#[from] BusError),
    /// KVM refused the irqfd/ioeventfd.
    #[error("cannot wire the virtio-mmio device to KVM")]
    Kvm(#[from] VmError),
    /// The command line is full.
    #[error("kernel command line too long to announce virtio-mmio device at {base:#x}: shorten --cmdline")]
    Cmdline {
        /// The device's base address.
        base: u64,
        /// The failure.
        #[source]
        source: linux_loader::cmdline::Error,
    },
}

/// Where a device landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioSlot {
    /// Guest-physical base of its 4 KiB window.
    pub base: u64,
    /// Its interrupt line.
    pub gsi: u32,
}

impl MmioSlot {
    /// The kernel argument announcing this slot.
    pub fn cmdline_arg(&self) -> String {
        format!("virtio_mmio.device=4K@{:#x}:{}", self.base, self.gsi)
    }
}

/// Allocates slots and routes MMIO exits to devices by address.
#[derive(Default, Clone)]
pub struct MmioDeviceManager {
    bus: Bus<dyn MmioDevice>,
    slots_used: u32,
}

impl MmioDeviceManager {
    /// The next free slot (address and GSI), in a fixed order so a VM's layout only depends
    /// on the order devices are attached.
    pub fn allocate_slot(&mut self) -> Result<MmioSlot, MmioError> {
        if self.slots_used >= VIRTIO_MMIO_MAX_SLOTS {
            return Err(MmioError::NoSlot);
        }
        let index = self.slots_used;
        self.slots_used += 1;
        Ok(MmioSlot {
            base: VIRTIO_MMIO_START.0 + u64::from(index) * MMIO_SLOT_SIZE,
            gsi: GSI_VIRTIO_FIRST + index,
        })
    }

    /// Attaches a virtio-mmio device: allocates its slot, registers `irq` as irqfd on the
    /// slot's GSI and each `(queue index, EventFd)` as an ioeventfd on QueueNotify (4-byte
    /// write of the queue index), puts it on the bus, and appends its kernel argument.
    pub fn attach_virtio(
        &mut self,
        vm: &Vm,
        cmdline: &mut Cmdline,
        device: Arc<Mutex<dyn MmioDevice>>,
        irq: &EventFd,
        queue_notify: &[(u16, &EventFd)],
    ) -> Result<MmioSlot, MmioError> {
        let slot = self.allocate_slot()?;
        vm.register_irqfd(irq, slot.gsi)?;
        for (queue, event) in queue_notify {
            vm.register_mmio_ioevent(event, slot.base + QUEUE_NOTIFY_OFFSET, u32::from(*queue))?;
        }
        self.bus.insert(slot.base, MMIO_SLOT_SIZE, device)?;
        cmdline
            .insert_str(slot.cmdline_arg())
            .map_err(|source| MmioError::Cmdline {
                base: slot.base,
                source,
            })?;
        Ok(slot)
    }

    /// A guest read at `addr`; unclaimed addresses read as zero.
    pub fn read(&self, addr: u64, data: &mut [u8]) {
        match self.bus.resolve(addr) {
            Some((device, offset)) => lock(device).mmio_read(offset, data),
            None => data.fill(0),
        }
    }

    /// A guest write at `addr`; unclaimed addresses ignore it.
    pub fn write(&self, addr: u64, data: &[u8]) {
        if let Some((device, offset)) = self.bus.resolve(addr) {
            lock(device).mmio_write(offset, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(u64);
    impl MmioDevice for Echo {
        fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(u8::try_from(offset & 0xff).unwrap());
        }
        fn mmio_write(&mut self, offset: u64, _data: &[u8]) {
            self.0 = offset;
        }
    }

    #[test]
    fn slots_are_sequential_and_limited() {
        let mut mgr = MmioDeviceManager::default();
        let first = mgr.allocate_slot().unwrap();
        assert_eq!(
            first,
            MmioSlot {
                base: 0xd000_0000,
                gsi: 5
            }
        );
        assert_eq!(first.cmdline_arg(), "virtio_mmio.device=4K@0xd0000000:5");
        let second = mgr.allocate_slot().unwrap();
        assert_eq!(
            second,
            MmioSlot {
                base: 0xd000_1000,
                gsi: 6
            }
        );
        for _ in 2..VIRTIO_MMIO_MAX_SLOTS {
            mgr.allocate_slot().unwrap();
        }
        assert!(matches!(mgr.allocate_slot(), Err(MmioError::NoSlot)));
    }

    #[test]
    fn exits_dispatch_by_address() {
        let mut mgr = MmioDeviceManager::default();
        let dev = Arc::new(Mutex::new(Echo(0)));
        mgr.bus.insert(0xd000_0000, 0x1000, dev.clone()).unwrap();
        let mut data = [0u8; 4];
        mgr.read(0xd000_0070, &mut data);
        assert_eq!(data, [0x70; 4]);
        mgr.write(0xd000_0050, &[0, 0, 0, 0]);
        assert_eq!(dev.lock().unwrap().0, 0x50);
        mgr.read(0xd000_1000, &mut data);
        assert_eq!(data, [0; 4]);
    }
}
