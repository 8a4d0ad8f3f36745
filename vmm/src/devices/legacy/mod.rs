//! Legacy PC devices on I/O ports: COM1, the i8042 (for reset), hull's boot-timer port.

pub mod boot_timer;
pub mod i8042;
pub mod serial;

use vmm_sys_util::eventfd::EventFd;

/// A vm-superio interrupt/reset line backed by an `EventFd` (wired to an irqfd or to the
/// VMM's exit path).
pub struct EventFdTrigger(EventFd);

impl EventFdTrigger {
    /// Wraps `event`.
    pub fn new(event: EventFd) -> Self {
        Self(event)
    }

    /// The wrapped `EventFd`.
    pub fn event(&self) -> &EventFd {
        &self.0
    }
}

impl vm_superio::Trigger for EventFdTrigger {
    type E = std::io::Error;

    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}
