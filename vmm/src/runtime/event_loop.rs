//! The event loop's own subscribers: the stop latch and COM1 input.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use crate::devices::legacy::serial::SerialDevice;

/// Wakes the loop when the VM stops.
pub struct ExitWatcher {
    event: EventFd,
    done: Arc<AtomicBool>,
}

impl ExitWatcher {
    /// Watches `event` (a clone of `ExitSignal::event`) and sets `done`.
    pub fn new(event: EventFd, done: Arc<AtomicBool>) -> Self {
        Self { event, done }
    }
}

impl MutEventSubscriber for ExitWatcher {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.event.read();
        self.done.store(true, Ordering::SeqCst);
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.event, EventSet::IN)) {
            tracing::error!("cannot watch the VM exit event: {e:?}");
        }
    }
}

/// Copies host input (stdin) into COM1's receive FIFO.
pub struct SerialInput<R: Read + AsRawFd + Send> {
    input: R,
    serial: Arc<Mutex<SerialDevice>>,
}

impl<R: Read + AsRawFd + Send> SerialInput<R> {
    /// Feeds `input` into `serial`.
    pub fn new(input: R, serial: Arc<Mutex<SerialDevice>>) -> Self {
        Self { input, serial }
    }
}

impl<R: Read + AsRawFd + Send> MutEventSubscriber for SerialInput<R> {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        // The UART FIFO holds 64 bytes; what does not fit is dropped, like a real UART
        // overrun (the serial console is for diagnostics; the container tty is virtio).
        let mut buf = [0u8; 64];
        match self.input.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = ops.remove(Events::new_raw(self.input.as_raw_fd(), EventSet::IN));
            }
            Ok(n) => {
                let mut serial = self
                    .serial
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                serial.enqueue_input(&buf[..n]);
            }
        }
        if events.event_set().contains(EventSet::HANG_UP) {
            let _ = ops.remove(Events::new_raw(self.input.as_raw_fd(), EventSet::IN));
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        // Regular files and /dev/null cannot be polled: then there is simply no input.
        if let Err(e) = ops.add(Events::new_raw(self.input.as_raw_fd(), EventSet::IN)) {
            tracing::debug!("serial input not pollable ({e:?}); COM1 gets no input");
        }
    }
}
