//! An address-range bus: each device owns `[base, base + len)`; accesses get the offset.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Errors inserting a device.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    /// The range overlaps a device already on the bus (a layout bug).
    #[error("device range {base:#x}+{len:#x} overlaps another device")]
    Overlap {
        /// Base address.
        base: u64,
        /// Length.
        len: u64,
    },
    /// Zero-length or wrapping range.
    #[error("device range {base:#x}+{len:#x} is empty or wraps")]
    BadRange {
        /// Base address.
        base: u64,
        /// Length.
        len: u64,
    },
}

/// Devices of type `D` (a trait object) by address range.
pub struct Bus<D: ?Sized> {
    devices: BTreeMap<u64, (u64, Arc<Mutex<D>>)>,
}

impl<D: ?Sized> Default for Bus<D> {
    fn default() -> Self {
        Self {
            devices: BTreeMap::new(),
        }
    }
}

impl<D: ?Sized> Clone for Bus<D> {
    fn clone(&self) -> Self {
        Self {
            devices: self.devices.clone(),
        }
    }
}

impl<D: ?Sized> Bus<D> {
    /// Puts `device` at `[base, base + len)`.
    pub fn insert(&mut self, base: u64, len: u64, device: Arc<Mutex<D>>) -> Result<(), BusError> {
        let end = base
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or(BusError::BadRange { base, len })?;
        let overlaps_before = self
            .devices
            .range(..end)
            .next_back()
            .is_some_and(|(b, (l, _))| b + l > base);
        if overlaps_before {
            return Err(BusError::Overlap { base, len });
        }
        self.devices.insert(base, (len, device));
        Ok(())
    }

    /// The device covering `addr` and the offset into it.
    pub fn resolve(&self, addr: u64) -> Option<(&Arc<Mutex<D>>, u64)> {
        let (base, (len, device)) = self.devices.range(..=addr).next_back()?;
        let offset = addr - base;
        (offset < *len).then_some((device, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_offsets_and_refuses_overlaps() {
        let mut bus: Bus<u32> = Bus::default();
        bus.insert(0x100, 0x10, Arc::new(Mutex::new(1))).unwrap();
        bus.insert(0x110, 0x10, Arc::new(Mutex::new(2))).unwrap();
        assert_eq!(
            bus.insert(0x10f, 2, Arc::new(Mutex::new(3))),
            Err(BusError::Overlap {
                base: 0x10f,
                len: 2
            })
        );
        assert_eq!(
            bus.insert(0xf8, 0x9, Arc::new(Mutex::new(3))),
            Err(BusError::Overlap { base: 0xf8, len: 9 })
        );
        assert!(bus.insert(u64::MAX, 2, Arc::new(Mutex::new(3))).is_err());
        assert!(bus.insert(0x200, 0, Arc::new(Mutex::new(3))).is_err());
        let (dev, off) = bus.resolve(0x115).unwrap();
        assert_eq!((*dev.lock().unwrap(), off), (2, 5));
        assert!(bus.resolve(0x120).is_none());
        assert!(bus.resolve(0xff).is_none());
    }
}
