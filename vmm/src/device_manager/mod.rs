//! Buses that route vCPU I/O exits to devices, and the allocation of device resources
//! (ports, MMIO slots, GSIs).

pub mod bus;
pub mod mmio;
pub mod pio;

pub use bus::{Bus, BusError};
pub use mmio::{MmioDeviceManager, MmioError, MmioSlot};
pub use pio::{PioDeviceManager, PioError};
