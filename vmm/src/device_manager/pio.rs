//! The I/O port bus and the legacy devices on it.

use std::sync::{Arc, Mutex};

use super::bus::{Bus, BusError};
use super::lock;
use crate::devices::PioDevice;

/// Errors placing a port device.
#[derive(Debug, thiserror::Error)]
pub enum PioError {
    /// Overlapping or empty port range.
    #[error("cannot place an I/O port device")]
    Bus(#[from] BusError),
}

/// Routes port I/O exits. Ports nobody claims read as 0xff (an empty ISA bus) and ignore
/// writes.
#[derive(Default, Clone)]
pub struct PioDeviceManager {
    bus: Bus<dyn PioDevice>,
}

impl PioDeviceManager {
    /// Puts `device` on ports `[base, base + count)`.
    pub fn insert(
        &mut self,
        base: u16,
        count: u16,
        device: Arc<Mutex<dyn PioDevice>>,
    ) -> Result<(), PioError> {
        Ok(self.bus.insert(u64::from(base), u64::from(count), device)?)
    }

    /// A guest `in` from `port`.
    pub fn read(&self, port: u16, data: &mut [u8]) {
        match self.bus.resolve(u64::from(port)) {
            Some((device, offset)) => {
                let offset = u16::try_from(offset).unwrap_or(u16::MAX);
                lock(device).pio_read(offset, data);
            }
            None => data.fill(0xff),
        }
    }

    /// A guest `out` to `port`.
    pub fn write(&self, port: u16, data: &[u8]) {
        if let Some((device, offset)) = self.bus.resolve(u64::from(port)) {
            let offset = u16::try_from(offset).unwrap_or(u16::MAX);
            lock(device).pio_write(offset, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder(Vec<(u16, Vec<u8>)>);
    impl PioDevice for Recorder {
        fn pio_read(&mut self, offset: u16, data: &mut [u8]) {
            data.fill(u8::try_from(offset).unwrap());
        }
        fn pio_write(&mut self, offset: u16, data: &[u8]) {
            self.0.push((offset, data.to_vec()));
        }
    }

    #[test]
    fn routes_by_port_and_floats_unclaimed_ports() {
        let dev = Arc::new(Mutex::new(Recorder(Vec::new())));
        let mut pio = PioDeviceManager::default();
        pio.insert(0x3f8, 8, dev.clone()).unwrap();
        pio.write(0x3f9, &[7]);
        pio.write(0x80, &[1]);
        let mut b = [0u8; 1];
        pio.read(0x3fd, &mut b);
        assert_eq!(b, [5]);
        pio.read(0x2f8, &mut b);
        assert_eq!(b, [0xff]);
        assert_eq!(dev.lock().unwrap().0, vec![(1, vec![7])]);
        assert!(pio.insert(0x3ff, 1, dev).is_err());
    }
}
