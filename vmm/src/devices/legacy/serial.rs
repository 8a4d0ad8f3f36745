//! COM1: a 16550A UART (vm-superio) whose output goes to the VMM's stdout or a file, and
//! whose input comes from the event loop.

use std::io::Write;

use serde::{Deserialize, Serialize};
use vm_superio::serial::{NoEvents, SerialState};
use vm_superio::Serial;

use super::EventFdTrigger;
use crate::devices::PioDevice;

/// Number of I/O ports a UART decodes.
pub const SERIAL_PORT_COUNT: u16 = 8;

/// COM1 on the PIO bus.
pub struct SerialDevice {
    uart: Serial<EventFdTrigger, NoEvents, Box<dyn Write + Send>>,
}

/// The UART's registers and unread input, for a snapshot (vm-superio's `SerialState`,
/// which has no serde).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialSnapshot {
    /// DLL, DLM, IER, IIR, LCR, LSR, MCR, MSR, SCR in that order.
    pub registers: [u8; 9],
    /// Input the guest has not read yet.
    pub in_buffer: Vec<u8>,
}

impl SerialDevice {
    /// A UART raising `interrupt` and writing what the guest sends to `out`.
    pub fn new(interrupt: EventFdTrigger, out: Box<dyn Write + Send>) -> Self {
        Self {
            uart: Serial::new(interrupt, out),
        }
    }

    /// A UART in the state `saved` (a restore); None when the state is impossible (more
    /// input than the FIFO holds).
    pub fn from_snapshot(
        saved: &SerialSnapshot,
        interrupt: EventFdTrigger,
        out: Box<dyn Write + Send>,
    ) -> Option<Self> {
        let [dll, dlm, ier, iir, lcr, lsr, mcr, msr, scr] = saved.registers;
        let state = SerialState {
            baud_divisor_low: dll,
            baud_divisor_high: dlm,
            interrupt_enable: ier,
            interrupt_identification: iir,
            line_control: lcr,
            line_status: lsr,
            modem_control: mcr,
            modem_status: msr,
            scratch: scr,
            in_buffer: saved.in_buffer.clone(),
        };
        let uart = Serial::from_state(&state, interrupt, NoEvents, out).ok()?;
        Some(Self { uart })
    }

    /// The UART's state, for a snapshot.
    pub fn snapshot(&self) -> SerialSnapshot {
        let state = self.uart.state();
        SerialSnapshot {
            registers: [
                state.baud_divisor_low,
                state.baud_divisor_high,
                state.interrupt_enable,
                state.interrupt_identification,
                state.line_control,
                state.line_status,
                state.modem_control,
                state.modem_status,
                state.scratch,
            ],
            in_buffer: state.in_buffer,
        }
    }

    /// Queues host input for the guest; returns how many bytes fit in the FIFO.
    pub fn enqueue_input(&mut self, input: &[u8]) -> usize {
        if self.uart.fifo_capacity() == 0 {
            return 0;
        }
        self.uart.enqueue_raw_bytes(input).unwrap_or(0)
    }

    /// Flushes buffered output (at VM exit).
    pub fn flush(&mut self) {
        let _ = self.uart.writer_mut().flush();
    }
}

impl PioDevice for SerialDevice {
    fn pio_read(&mut self, offset: u16, data: &mut [u8]) {
        match (u8::try_from(offset), data) {
            (Ok(offset), [byte]) if offset < 8 => *byte = self.uart.read(offset),
            (_, data) => data.fill(0xff),
        }
    }

    fn pio_write(&mut self, offset: u16, data: &[u8]) {
        if let (Ok(offset), [byte]) = (u8::try_from(offset), data) {
            if offset < 8 {
                // A failed host write loses the byte, like a real UART with nobody
                // listening; the guest must not stall for it.
                if let Err(e) = self.uart.write(offset, *byte) {
                    tracing::debug!("serial output lost: {e:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use vmm_sys_util::eventfd::EventFd;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn guest_bytes_reach_the_output_and_input_reaches_the_guest() {
        let out = Shared::default();
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let mut serial = SerialDevice::new(
            EventFdTrigger::new(irq.try_clone().unwrap()),
            Box::new(out.clone()),
        );
        for b in b"hi\n" {
            serial.pio_write(0, &[*b]);
        }
        assert_eq!(out.0.lock().unwrap().as_slice(), b"hi\n");
        serial.pio_write(1, &[0x01]); // IER: received-data interrupt on
        assert_eq!(serial.enqueue_input(b"x"), 1);
        assert!(irq.read().unwrap() >= 1);
        let mut lsr = [0];
        serial.pio_read(5, &mut lsr);
        assert_eq!(lsr[0] & 1, 1, "data ready");
        let mut rbr = [0];
        serial.pio_read(0, &mut rbr);
        assert_eq!(rbr[0], b'x');
        // Odd sizes and offsets never panic.
        let mut wide = [0u8; 4];
        serial.pio_read(0, &mut wide);
        assert_eq!(wide, [0xff; 4]);
        serial.pio_write(300, &[1, 2]);
    }

    #[test]
    fn a_snapshot_restores_registers_and_unread_input() {
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let trigger = || EventFdTrigger::new(irq.try_clone().unwrap());
        let mut serial = SerialDevice::new(trigger(), Box::new(std::io::sink()));
        serial.pio_write(3, &[0x80]); // LCR: divisor latch access
        serial.pio_write(0, &[0x0c]); // 9600 baud
        serial.pio_write(3, &[0x03]); // 8N1
        serial.pio_write(7, &[0x5a]); // scratch
        serial.pio_write(1, &[0x01]);
        assert_eq!(serial.enqueue_input(b"ab"), 2);
        let saved = serial.snapshot();
        let mut restored =
            SerialDevice::from_snapshot(&saved, trigger(), Box::new(std::io::sink())).unwrap();
        assert_eq!(restored.snapshot(), saved);
        let mut byte = [0];
        restored.pio_read(7, &mut byte);
        assert_eq!(byte[0], 0x5a);
        restored.pio_read(0, &mut byte);
        assert_eq!(byte[0], b'a', "unread input survives");
        // More input than a FIFO holds is an impossible state, refused.
        let hostile = SerialSnapshot {
            in_buffer: vec![0; 1 << 16],
            ..saved
        };
        assert!(
            SerialDevice::from_snapshot(&hostile, trigger(), Box::new(std::io::sink())).is_none()
        );
    }
}
