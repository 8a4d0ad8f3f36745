//! One KVM virtual machine: guest memory slots, in-kernel irqchip and PIT, irqfds and
//! ioeventfds, vCPU creation.

use kvm_bindings::{kvm_pit_config, kvm_userspace_memory_region, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{IoEventAddress, NoDatamatch, VmFd};
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::EventFd;

use super::vcpu::{Vcpu, VcpuError};
use crate::arch::x86_64::layout::KVM_TSS_ADDRESS;

/// Errors setting up a VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// KVM_CREATE_VM failed.
    #[error("KVM_CREATE_VM failed (too many VMs, or KVM is unusable on this host)")]
    Create(#[source] kvm_ioctls::Error),
    /// KVM_SET_TSS_ADDR failed.
    #[error("cannot place KVM's TSS in guest memory")]
    SetTss(#[source] kvm_ioctls::Error),
    /// KVM_SET_USER_MEMORY_REGION failed.
    #[error("cannot give guest memory slot {slot} to KVM")]
    MemorySlot {
        /// The slot number.
        slot: u32,
        /// The failure.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// KVM_CREATE_IRQCHIP failed.
    #[error("cannot create KVM's in-kernel interrupt controller")]
    Irqchip(#[source] kvm_ioctls::Error),
    /// KVM_CREATE_PIT2 failed.
    #[error("cannot create KVM's in-kernel PIT")]
    Pit(#[source] kvm_ioctls::Error),
    /// KVM_IRQFD failed.
    #[error("cannot attach an interrupt eventfd to GSI {gsi}")]
    Irqfd {
        /// The interrupt line.
        gsi: u32,
        /// The failure.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// KVM_IOEVENTFD failed.
    #[error("cannot attach a notification eventfd to guest address {addr:#x}")]
    Ioeventfd {
        /// The MMIO or PIO address.
        addr: u64,
        /// The failure.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// KVM_CREATE_VCPU failed.
    #[error("cannot create vCPU {id}")]
    CreateVcpu {
        /// The vCPU index.
        id: u8,
        /// The failure.
        #[source]
        source: VcpuError,
    },
}

/// A KVM virtual machine.
pub struct Vm {
    pub(super) fd: VmFd,
}

impl Vm {
    pub(super) fn new(fd: VmFd) -> Result<Self, VmError> {
        // Intel without unrestricted guest needs the TSS pages before the first vCPU runs;
        // AMD ignores it. Cheap, so always set it.
        let tss = usize::try_from(KVM_TSS_ADDRESS.0).unwrap_or(usize::MAX);
        fd.set_tss_address(tss).map_err(VmError::SetTss)?;
        Ok(Self { fd })
    }

    /// Hands every region of `memory` to KVM as one memory slot each.
    pub fn register_memory(&self, memory: &GuestMemoryMmap) -> Result<(), VmError> {
        for (slot, region) in (0u32..).zip(memory.iter()) {
            let mem_region = kvm_userspace_memory_region {
                slot,
                guest_phys_addr: region.start_addr().0,
                memory_size: region.len(),
                userspace_addr: region.as_ptr() as u64,
                flags: 0,
            };
            // SAFETY: the host range is a live mapping owned by `memory`, which the caller
            // keeps alive for as long as the VM (and its vCPUs) exist.
            unsafe { self.fd.set_user_memory_region(mem_region) }
                .map_err(|source| VmError::MemorySlot { slot, source })?;
        }
        Ok(())
    }

    /// Creates the in-kernel PIC+IOAPIC+LAPICs and the PIT (the guest's timer source).
    pub fn setup_irqchip(&self) -> Result<(), VmError> {
        self.fd.create_irq_chip().map_err(VmError::Irqchip)?;
        // A dummy speaker port (0x61) keeps the guest's PIT calibration happy without
        // exits to userspace.
        let pit = kvm_pit_config {
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        self.fd.create_pit2(pit).map_err(VmError::Pit)
    }

    /// Makes a write to `event` raise the interrupt line `gsi` (edge).
    pub fn register_irqfd(&self, event: &EventFd, gsi: u32) -> Result<(), VmError> {
        self.fd
            .register_irqfd(event, gsi)
            .map_err(|source| VmError::Irqfd { gsi, source })
    }

    /// Makes a guest write of `datamatch` (4 bytes) to MMIO address `addr` signal `event`
    /// inside KVM, without an exit to the VMM.
    pub fn register_mmio_ioevent(
        &self,
        event: &EventFd,
        addr: u64,
        datamatch: u32,
    ) -> Result<(), VmError> {
        self.fd
            .register_ioevent(event, &IoEventAddress::Mmio(addr), datamatch)
            .map_err(|source| VmError::Ioeventfd { addr, source })
    }

    /// Makes any guest write to I/O port `port` signal `event` inside KVM.
    pub fn register_pio_ioevent(&self, event: &EventFd, port: u16) -> Result<(), VmError> {
        self.fd
            .register_ioevent(event, &IoEventAddress::Pio(u64::from(port)), NoDatamatch)
            .map_err(|source| VmError::Ioeventfd {
                addr: u64::from(port),
                source,
            })
    }

    /// Creates vCPU number `id` (also its initial APIC id).
    pub fn create_vcpu(&self, id: u8) -> Result<Vcpu, VmError> {
        let fd = self
            .fd
            .create_vcpu(u64::from(id))
            .map_err(|e| VmError::CreateVcpu {
                id,
                source: VcpuError::Create(e),
            })?;
        Ok(Vcpu::new(fd, id))
    }
}
