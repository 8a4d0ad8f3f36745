//! A built VM running: vCPU threads plus the event loop on the calling thread, until the
//! guest resets, powers off or fails.

pub mod control;
pub mod event_loop;
pub mod exit;
pub mod pause;
pub mod snapshot_control;
pub mod vcpu_runner;
pub mod winch;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};

use self::control::{VcpuThreads, VmControl};
use self::event_loop::ExitWatcher;
use self::exit::{ExitSignal, GuestStop};
use self::pause::PauseGate;
use self::snapshot_control::SnapshotControl;
use self::vcpu_runner::{kick_threads, stop_vcpu_threads, VcpuRunner};
use crate::devices::legacy::serial::SerialDevice;
use crate::memory::GuestMemory;
use crate::vstate::Vm;

/// The event loop's subscriber type: ours and the virtio devices' event handlers.
pub type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// Errors running the VM.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The event loop failed.
    #[error("the VMM event loop failed: {0:?}")]
    EventLoop(event_manager::Error),
    /// A vCPU thread could not start.
    #[error("cannot start a vCPU thread")]
    SpawnVcpu(#[source] std::io::Error),
    /// The control socket's thread could not start.
    #[error("cannot serve the control socket")]
    Control(#[source] std::io::Error),
    /// The guest or KVM failed; the one-line cause.
    #[error("{0}")]
    Guest(String),
}

/// How the VM ended, when it ended cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmOutcome {
    /// Why it stopped.
    pub stop: GuestStop,
    /// Milliseconds from VMM start to the guest's boot-timer mark, if it wrote one.
    pub userspace_reached_ms: Option<u64>,
}

/// A VM ready to run (see `builder::build_vm`).
pub struct Vmm {
    pub(crate) _vm: Arc<Vm>,
    pub(crate) _memory: Arc<GuestMemory>,
    pub(crate) vcpus: Vec<VcpuRunner>,
    pub(crate) event_manager: EventManager<Subscriber>,
    pub(crate) exit: Arc<ExitSignal>,
    pub(crate) serial: Arc<Mutex<SerialDevice>>,
    pub(crate) boot_reached_ms: Arc<AtomicU64>,
    /// The vCPUs' pause latch (shared with every `VcpuRunner`).
    pub(crate) pause: Arc<PauseGate>,
    /// The bound `--control-socket`, served once the vCPUs run.
    pub(crate) control: Option<std::os::unix::net::UnixListener>,
    /// What the control socket's `x-hull-snapshot` saves.
    pub(crate) snapshot: Arc<SnapshotControl>,
}

impl Vmm {
    /// Runs the guest to its end. Ok for a reset/power-off; Err with a one-line cause
    /// otherwise. All vCPU threads have stopped when this returns; the VM itself is torn
    /// down when the `Vmm` is dropped (KVM takes ~15 ms for that here, which a process
    /// about to exit can skip by exiting first).
    pub fn run(&mut self) -> Result<VmOutcome, RunError> {
        let done = Arc::new(AtomicBool::new(false));
        let watcher = self
            .exit
            .event()
            .try_clone()
            .map_err(|e| RunError::Guest(format!("cannot clone the exit event: {e}")))?;
        self.event_manager
            .add_subscriber(Arc::new(Mutex::new(ExitWatcher::new(
                watcher,
                done.clone(),
            ))));

        let mut threads = Vec::with_capacity(self.vcpus.len());
        let mut spawn_error = None;
        for runner in self.vcpus.drain(..) {
            match runner.spawn() {
                Ok(t) => threads.push(t),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        // The pthread_t of every vCPU thread, for the control socket's kicks; emptied before
        // the threads are joined.
        let vcpu_threads: VcpuThreads = Arc::new(Mutex::new(
            threads
                .iter()
                .map(std::os::unix::thread::JoinHandleExt::as_pthread_t)
                .collect(),
        ));
        if let (None, Some(listener)) = (&spawn_error, self.control.take()) {
            let kicked = vcpu_threads.clone();
            let control = VmControl {
                gate: self.pause.clone(),
                exit: self.exit.clone(),
                vcpus: threads.len(),
                kick: Arc::new(move || {
                    kick_threads(
                        &kicked
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                    )
                }),
                snapshot: Some(self.snapshot.clone()),
            };
            if let Err(e) = control.serve(listener) {
                spawn_error = Some(e);
                self.exit
                    .stop(GuestStop::Error("cannot serve the control socket".into()));
            }
        }
        let mut loop_error = None;
        if spawn_error.is_none() {
            while !done.load(Ordering::SeqCst) && !self.exit.is_stopped() {
                // A panicking device handler must stop the VM with an error, not unwind
                // past running vCPU threads.
                let event_manager = &mut self.event_manager;
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event_manager.run()))
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        loop_error = Some(RunError::EventLoop(e));
                        break;
                    }
                    Err(_) => {
                        loop_error = Some(RunError::Guest(
                            "a device panicked on the VMM event loop (a hull-vmm bug)".into(),
                        ));
                        break;
                    }
                }
            }
        }
        self.exit
            .stop(GuestStop::Error("the VMM stopped the VM".into()));
        vcpu_threads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        stop_vcpu_threads(threads, &self.exit);
        self.serial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .flush();

        if let Some(e) = spawn_error {
            return Err(RunError::SpawnVcpu(e));
        }
        if let Some(e) = loop_error {
            return Err(e);
        }
        let stop = self.exit.reason().unwrap_or(GuestStop::Error(
            "the VM stopped for no recorded reason".into(),
        ));
        match stop {
            GuestStop::Error(cause) => Err(RunError::Guest(cause)),
            stop => {
                tracing::info!("guest stopped: {stop:?}");
                let ms = self.boot_reached_ms.load(Ordering::Relaxed);
                Ok(VmOutcome {
                    stop,
                    userspace_reached_ms: (ms > 0).then_some(ms),
                })
            }
        }
    }
}
