//! The control socket's `x-hull-snapshot`: pause the vCPUs, then the event loop (so no
//! device touches guest memory or its queues mid-save), save, and resume what was running.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use super::exit::ExitSignal;
use super::pause::PauseGate;
use crate::snapshot::save::SaveSummary;
use crate::snapshot::{SnapshotError, VmSnapshotter};

/// How long a snapshot waits for the event loop to park (it only finishes the device
/// handler it is in).
const LOOP_PARK_TIMEOUT: Duration = Duration::from_secs(5);

/// The event loop's own pause latch: a subscriber that, when kicked, parks the loop thread
/// until the snapshot is written.
pub struct LoopParker {
    kick: EventFd,
    gate: Arc<PauseGate>,
    exit: Arc<ExitSignal>,
}

impl LoopParker {
    /// A parker and the handle that pauses the loop through it.
    pub fn new(exit: Arc<ExitSignal>) -> std::io::Result<(Self, LoopPause)> {
        let kick = EventFd::new(libc::EFD_NONBLOCK)?;
        let gate = Arc::new(PauseGate::new());
        let pause = LoopPause {
            kick: kick.try_clone()?,
            gate: gate.clone(),
        };
        Ok((Self { kick, gate, exit }, pause))
    }
}

impl MutEventSubscriber for LoopParker {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.kick, EventSet::IN)) {
            tracing::error!("snapshots will fail: cannot watch the loop pause eventfd: {e:?}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.kick.read();
        self.gate.park_while_paused(&self.exit);
    }
}

/// Pauses the event loop from another thread.
pub struct LoopPause {
    kick: EventFd,
    gate: Arc<PauseGate>,
}

/// What `x-hull-snapshot` needs.
pub struct SnapshotControl {
    /// Reads and writes the VM's state.
    pub snapshotter: VmSnapshotter,
    /// Parks the event loop.
    pub event_loop: LoopPause,
    /// Set once a snapshot started: one VM is snapshotted at most once at a time.
    pub busy: AtomicBool,
}

impl SnapshotControl {
    /// Pauses everything (the vCPUs through `pause_vcpus`, unless `already_paused`), saves
    /// into `dir`, and resumes what this call paused.
    pub fn snapshot(
        &self,
        dir: &Path,
        exit: &ExitSignal,
        pause_vcpus: impl FnOnce() -> Result<(), String>,
        resume_vcpus: impl FnOnce(),
        already_paused: bool,
    ) -> Result<SaveSummary, SnapshotError> {
        if self.busy.swap(true, Ordering::SeqCst) {
            return Err(SnapshotError::Pause(
                "another snapshot is being taken".into(),
            ));
        }
        let result = self.paused_save(dir, exit, pause_vcpus, resume_vcpus, already_paused);
        self.busy.store(false, Ordering::SeqCst);
        result
    }

    fn paused_save(
        &self,
        dir: &Path,
        exit: &ExitSignal,
        pause_vcpus: impl FnOnce() -> Result<(), String>,
        resume_vcpus: impl FnOnce(),
        already_paused: bool,
    ) -> Result<SaveSummary, SnapshotError> {
        // Refused before anything is paused.
        self.snapshotter.layout.clone()?;
        if !already_paused {
            pause_vcpus().map_err(SnapshotError::Pause)?;
        }
        let kick = || {
            let _ = self.event_loop.kick.write(1);
        };
        let result = match self.event_loop.gate.pause(1, kick, exit, LOOP_PARK_TIMEOUT) {
            Ok(()) => {
                let saved = self.snapshotter.save(dir);
                self.event_loop.gate.resume();
                saved
            }
            Err(e) => Err(SnapshotError::Pause(format!("event loop: {e}"))),
        };
        if !already_paused {
            resume_vcpus();
        }
        result
    }
}
