//! Emulated devices. Device code never talks to KVM directly: it gets `EventFd`s for its
//! interrupts and queue notifications, and the device manager wires those to KVM (irqfd,
//! ioeventfd).

pub mod legacy;
pub mod virtio;

/// A device on the MMIO bus. `offset` is relative to the device's base address.
///
/// Implementations must accept any offset and any access size the guest chooses: a bad
/// access is ignored (writes) or reads as zero, never a panic.
pub trait MmioDevice: Send {
    /// The guest reads `data.len()` bytes at `offset`.
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]);
    /// The guest writes `data` at `offset`.
    fn mmio_write(&mut self, offset: u64, data: &[u8]);
}

/// A device on the I/O port bus. `offset` is relative to the device's first port.
///
/// Same rules as `MmioDevice`: any offset and size, never a panic.
pub trait PioDevice: Send {
    /// The guest reads `data.len()` bytes at `offset`.
    fn pio_read(&mut self, offset: u16, data: &mut [u8]);
    /// The guest writes `data` at `offset`.
    fn pio_write(&mut self, offset: u16, data: &[u8]);
}
