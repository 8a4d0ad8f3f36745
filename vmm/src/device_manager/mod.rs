//! Buses that route vCPU I/O exits to devices, and the allocation of device resources
//! (ports, MMIO slots, GSIs).

pub mod bus;
pub mod mmio;
pub mod pio;

pub use bus::{Bus, BusError};
pub use mmio::{MmioDeviceManager, MmioError, MmioSlot};
pub use pio::{PioDeviceManager, PioError};

/// Locks a device even if a previous holder panicked: device state stays usable, and a
/// poisoned lock must not take the vCPU thread down with it.
pub(crate) fn lock<D: ?Sized>(device: &std::sync::Mutex<D>) -> std::sync::MutexGuard<'_, D> {
    device
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
