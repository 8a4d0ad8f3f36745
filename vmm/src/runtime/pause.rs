//! Pausing the vCPUs (`hull pause`): a latch every vCPU thread checks between two
//! KVM_RUNs. A pause sets it and kicks the threads out of KVM_RUN (the same no-op signal
//! that stops them); each parks until resumed or until the VM stops. `pause` returns once
//! every vCPU is parked, so the guest runs no instruction after it.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::exit::ExitSignal;

/// How often a parked vCPU looks at the VM's stop latch (a stop must not wait for a
/// resume), and how often a pause kicks the vCPUs that are still in the guest (a kick can
/// land just before KVM_RUN starts).
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
struct State {
    paused: bool,
    parked: usize,
}

/// The vCPUs' pause latch.
#[derive(Debug, Default)]
pub struct PauseGate {
    state: Mutex<State>,
    changed: Condvar,
}

/// Why a pause did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PauseError {
    /// The VM is stopping (or its vCPUs are gone).
    #[error("the VM is stopping")]
    Stopping,
    /// Some vCPU did not leave the guest in time.
    #[error("{parked} of {vcpus} vCPUs stopped within {timeout:?}")]
    Timeout {
        /// vCPUs parked.
        parked: usize,
        /// vCPUs in all.
        vcpus: usize,
        /// How long it waited.
        timeout: Duration,
    },
}

impl PauseGate {
    /// An open gate.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A vCPU thread between two KVM_RUNs: parks while the VM is paused (and not stopping).
    pub fn park_while_paused(&self, exit: &ExitSignal) {
        let mut state = self.lock();
        if !state.paused {
            return;
        }
        state.parked += 1;
        self.changed.notify_all();
        while state.paused && !exit.is_stopped() {
            state = self
                .changed
                .wait_timeout(state, POLL)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state.parked -= 1;
        self.changed.notify_all();
    }

    /// Pauses the VM: closes the gate and `kick`s the vCPUs out of the guest until all
    /// `vcpus` are parked (at most `timeout`; on failure the gate is opened again).
    pub fn pause(
        &self,
        vcpus: usize,
        kick: impl Fn(),
        exit: &ExitSignal,
        timeout: Duration,
    ) -> Result<(), PauseError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        state.paused = true;
        loop {
            if state.parked >= vcpus {
                return Ok(());
            }
            let failure = if exit.is_stopped() {
                Some(PauseError::Stopping)
            } else if Instant::now() >= deadline {
                Some(PauseError::Timeout {
                    parked: state.parked,
                    vcpus,
                    timeout,
                })
            } else {
                None
            };
            if let Some(failure) = failure {
                state.paused = false;
                self.changed.notify_all();
                return Err(failure);
            }
            kick();
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(2))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Resumes the vCPUs.
    pub fn resume(&self) {
        self.lock().paused = false;
        self.changed.notify_all();
    }

    /// Whether the VM is paused.
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Threads standing in for vCPUs: each "runs the guest" by counting.
    fn fake_vcpus(
        n: usize,
        gate: &Arc<PauseGate>,
        exit: &Arc<ExitSignal>,
    ) -> (Arc<AtomicU64>, Vec<std::thread::JoinHandle<()>>) {
        let work = Arc::new(AtomicU64::new(0));
        let threads = (0..n)
            .map(|_| {
                let (gate, exit, work) = (gate.clone(), exit.clone(), work.clone());
                std::thread::spawn(move || {
                    while !exit.is_stopped() {
                        gate.park_while_paused(&exit);
                        work.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                    }
                })
            })
            .collect();
        (work, threads)
    }

    #[test]
    fn paused_vcpus_do_no_work_until_resumed() {
        let gate = Arc::new(PauseGate::new());
        let exit = Arc::new(ExitSignal::new().unwrap());
        let (work, threads) = fake_vcpus(2, &gate, &exit);
        std::thread::sleep(Duration::from_millis(20));
        gate.pause(2, || {}, &exit, Duration::from_secs(5)).unwrap();
        assert!(gate.is_paused());
        let frozen = work.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            work.load(Ordering::SeqCst),
            frozen,
            "no vCPU ran while paused"
        );
        gate.resume();
        std::thread::sleep(Duration::from_millis(50));
        assert!(work.load(Ordering::SeqCst) > frozen, "the vCPUs run again");
        // A stop while paused ends the parked threads without a resume.
        gate.pause(2, || {}, &exit, Duration::from_secs(5)).unwrap();
        exit.stop(crate::GuestStop::Halted);
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[test]
    fn a_pause_that_cannot_complete_opens_the_gate_again() {
        let gate = PauseGate::new();
        let exit = ExitSignal::new().unwrap();
        let kicks = AtomicU64::new(0);
        let err = gate
            .pause(
                1,
                || {
                    kicks.fetch_add(1, Ordering::SeqCst);
                },
                &exit,
                Duration::from_millis(30),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                PauseError::Timeout {
                    parked: 0,
                    vcpus: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            kicks.load(Ordering::SeqCst) > 1,
            "kicked until the deadline"
        );
        assert!(!gate.is_paused());
        exit.stop(crate::GuestStop::Halted);
        assert_eq!(
            gate.pause(1, || {}, &exit, Duration::from_secs(1)),
            Err(PauseError::Stopping)
        );
    }
}
