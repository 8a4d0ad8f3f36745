//! Why the VM stopped, decided once (the first reason wins) and shared between the vCPU
//! threads, the devices and the event loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use vmm_sys_util::eventfd::EventFd;

/// Why the guest stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestStop {
    /// The guest reset the machine through the i8042 (Linux `reboot=k`).
    I8042Reset,
    /// Triple fault (KVM_EXIT_SHUTDOWN), a reset on a PC.
    TripleFault,
    /// KVM_SYSTEM_EVENT reset or shutdown.
    SystemEvent(String),
    /// A vCPU executed `hlt` with no interrupt controller to wake it.
    Halted,
    /// The control socket's `quit` (e.g. the engine ending a zygote after its snapshot).
    Quit,
    /// The VMM could not go on (guest internal error, KVM failure): the one-line cause.
    Error(String),
}

impl GuestStop {
    /// Whether this stop is a clean end of the VM (exit status 0).
    pub fn is_clean(&self) -> bool {
        !matches!(self, GuestStop::Error(_))
    }
}

/// The VM's stop latch: records the first reason and wakes the event loop.
pub struct ExitSignal {
    stopped: AtomicBool,
    reason: Mutex<Option<GuestStop>>,
    event: EventFd,
}

impl ExitSignal {
    /// A latch whose `event` the event loop watches.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            stopped: AtomicBool::new(false),
            reason: Mutex::new(None),
            event: EventFd::new(libc::EFD_NONBLOCK)?,
        })
    }

    /// Records `why` unless a reason is already set, and wakes the event loop.
    pub fn stop(&self, why: GuestStop) {
        let mut reason = self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reason.is_none() {
            tracing::debug!("VM stopping: {why:?}");
            *reason = Some(why);
        }
        self.stopped.store(true, Ordering::SeqCst);
        // EventFd writes only fail on counter overflow, which needs 2^64 stops.
        let _ = self.event.write(1);
    }

    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// The recorded reason.
    pub fn reason(&self) -> Option<GuestStop> {
        self.reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The `EventFd` written on stop.
    pub fn event(&self) -> &EventFd {
        &self.event
    }
}

/// vm-superio reset line for the i8042: a reset request stops the VM.
pub struct ResetTrigger(pub std::sync::Arc<ExitSignal>);

impl vm_superio::Trigger for ResetTrigger {
    type E = std::io::Error;

    fn trigger(&self) -> std::io::Result<()> {
        self.0.stop(GuestStop::I8042Reset);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_event_fires() {
        let exit = ExitSignal::new().unwrap();
        assert!(!exit.is_stopped());
        exit.stop(GuestStop::TripleFault);
        exit.stop(GuestStop::Error("later".into()));
        assert!(exit.is_stopped());
        assert_eq!(exit.reason(), Some(GuestStop::TripleFault));
        assert_eq!(exit.event().read().unwrap(), 2);
        assert!(GuestStop::I8042Reset.is_clean());
        assert!(!GuestStop::Error(String::new()).is_clean());
    }
}
