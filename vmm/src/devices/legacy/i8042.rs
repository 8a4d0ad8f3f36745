//! The i8042 keyboard controller, only so the guest can reset the machine (0xFE to port
//! 0x64): Linux's `reboot=k`.

use vm_superio::{I8042Device, Trigger};

use crate::devices::PioDevice;

/// Ports 0x60 (data) to 0x64 (command/status).
pub const I8042_PORT_COUNT: u16 = 5;

/// The i8042 on the PIO bus; a CPU reset command fires the `reset` trigger.
pub struct I8042<T: Trigger> {
    device: I8042Device<T>,
}

impl<T: Trigger> I8042<T> {
    /// An i8042 that fires `reset` when the guest asks for a CPU reset.
    pub fn new(reset: T) -> Self {
        Self {
            device: I8042Device::new(reset),
        }
    }
}

impl<T: Trigger + Send> PioDevice for I8042<T>
where
    T::E: std::fmt::Debug,
{
    fn pio_read(&mut self, offset: u16, data: &mut [u8]) {
        match (u8::try_from(offset), data) {
            (Ok(offset), [byte]) => *byte = self.device.read(offset),
            (_, data) => data.fill(0xff),
        }
    }

    fn pio_write(&mut self, offset: u16, data: &[u8]) {
        if let (Ok(offset), [byte]) = (u8::try_from(offset), data) {
            if let Err(e) = self.device.write(offset, *byte) {
                tracing::warn!("i8042 reset request lost: {e:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::legacy::EventFdTrigger;
    use vmm_sys_util::eventfd::EventFd;

    #[test]
    fn reset_command_fires_the_event_and_nothing_else_does() {
        let reset = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let mut i8042 = I8042::new(EventFdTrigger::new(reset.try_clone().unwrap()));
        i8042.pio_write(4, &[0xfd]);
        i8042.pio_write(0, &[0xfe]);
        i8042.pio_write(4, &[0xfe, 0]);
        assert!(reset.read().is_err(), "no reset yet");
        i8042.pio_write(4, &[0xfe]);
        assert_eq!(reset.read().unwrap(), 1);
    }
}
