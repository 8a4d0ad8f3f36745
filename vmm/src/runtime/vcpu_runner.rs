//! One thread per vCPU: run the guest, route I/O exits to the buses, turn terminal exits
//! into a `GuestStop`. Stopped by `ExitSignal` plus a signal that knocks it out of KVM_RUN.

use std::os::unix::thread::JoinHandleExt;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vmm_sys_util::signal::{register_signal_handler, SIGRTMIN};

use super::exit::{ExitSignal, GuestStop};
use super::pause::PauseGate;
use crate::device_manager::{MmioDeviceManager, PioDeviceManager};
use crate::vstate::{SystemEventKind, Vcpu, VmExit};

/// KVM_INTERNAL_ERROR_EMULATION.
const SUBERROR_EMULATION: u32 = 1;

/// What a vCPU thread needs.
pub struct VcpuRunner {
    /// The vCPU, configured for boot. Locked only around each KVM_RUN and its exit's
    /// handling, so a snapshot can read a parked vCPU's state from the control thread.
    pub vcpu: Arc<Mutex<Vcpu>>,
    /// The vCPU's index.
    pub id: u8,
    /// Port devices.
    pub pio: PioDeviceManager,
    /// MMIO devices.
    pub mmio: MmioDeviceManager,
    /// The VM's stop latch.
    pub exit: Arc<ExitSignal>,
    /// The VM's pause latch (`--control-socket`'s `stop`).
    pub pause: Arc<PauseGate>,
}

/// The kick signal: real-time signal 0, handled by a no-op so it only interrupts KVM_RUN.
fn kick_signal() -> libc::c_int {
    SIGRTMIN()
}

extern "C" fn ignore_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

impl VcpuRunner {
    /// Starts the vCPU thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        static HANDLER: Once = Once::new();
        HANDLER.call_once(|| {
            if let Err(e) = register_signal_handler(kick_signal(), ignore_kick) {
                tracing::warn!("cannot install the vCPU kick handler ({e}): exit may be slow");
            }
        });
        let name = format!("vcpu{}", self.id);
        std::thread::Builder::new().name(name).spawn(move || {
            let exit = self.exit.clone();
            let id = self.id;
            // A panicking device must end the VM with an error, not leave it running
            // with a dead vCPU and nobody to notice.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run())).is_err() {
                exit.stop(GuestStop::Error(format!(
                    "vCPU {id}: the VMM panicked while handling a guest exit (a hull-vmm bug)"
                )));
            }
        })
    }

    fn run(mut self) {
        let id = self.id;
        while !self.exit.is_stopped() {
            // Between two KVM_RUNs the vCPU is outside the guest: a pause parks it here.
            self.pause.park_while_paused(&self.exit);
            if self.exit.is_stopped() {
                break;
            }
            if let Some(stop) = self.run_once() {
                self.exit.stop(stop);
            }
        }
        tracing::debug!("vCPU {id} stopped");
    }

    /// One KVM_RUN; `Some` when the VM must stop.
    fn run_once(&mut self) -> Option<GuestStop> {
        let id = self.id;
        let mut vcpu = lock_vcpu(&self.vcpu);
        let (suberror, data) = match vcpu.run() {
            Ok(VmExit::IoIn { port, data }) => {
                self.pio.read(port, data);
                return None;
            }
            Ok(VmExit::IoOut { port, data }) => {
                self.pio.write(port, data);
                return None;
            }
            Ok(VmExit::MmioRead { addr, data }) => {
                self.mmio.read(addr, data);
                return None;
            }
            Ok(VmExit::MmioWrite { addr, data }) => {
                self.mmio.write(addr, data);
                return None;
            }
            Ok(VmExit::Interrupted) => return None,
            Ok(VmExit::Hlt) => return Some(GuestStop::Halted),
            Ok(VmExit::Shutdown) => return Some(GuestStop::TripleFault),
            Ok(VmExit::SystemEvent(kind)) => {
                return Some(match kind {
                    SystemEventKind::Shutdown => GuestStop::SystemEvent("shutdown".into()),
                    SystemEventKind::Reset => GuestStop::SystemEvent("reset".into()),
                    SystemEventKind::Crash => {
                        GuestStop::Error(format!("vCPU {id}: the guest reported a crash"))
                    }
                    SystemEventKind::Other(n) => GuestStop::SystemEvent(format!("type {n}")),
                });
            }
            Ok(VmExit::FailEntry { reason }) => {
                return Some(GuestStop::Error(format!(
                    "vCPU {id}: KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, \
                     hardware reason {reason:#x})"
                )));
            }
            Ok(VmExit::Unhandled(name)) => {
                return Some(GuestStop::Error(format!(
                    "vCPU {id}: unhandled exit {name} at RIP {}",
                    rip(&vcpu)
                )));
            }
            Err(e) => {
                return Some(GuestStop::Error(format!(
                    "vCPU {id}: {}",
                    crate::error_chain(&e)
                )))
            }
            Ok(VmExit::InternalError { suberror, data }) => (suberror, data),
        };
        tracing::debug!("vCPU {id}: internal error data {data:x?}");
        let what = if suberror == SUBERROR_EMULATION {
            "KVM could not emulate a guest instruction"
        } else {
            "KVM internal error"
        };
        let bytes = match emulation_failure_bytes(suberror, &data) {
            Some(bytes) => format!(", bytes {bytes}"),
            None => String::new(),
        };
        Some(GuestStop::Error(format!(
            "vCPU {id}: {what} (KVM_EXIT_INTERNAL_ERROR, suberror {suberror}) at RIP {}{bytes}",
            rip(&vcpu)
        )))
    }
}

/// The vCPU, also when a panicking exit handler poisoned its lock (the state is KVM's).
pub fn lock_vcpu(vcpu: &Mutex<Vcpu>) -> MutexGuard<'_, Vcpu> {
    vcpu.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rip(vcpu: &Vcpu) -> String {
    match vcpu.regs() {
        Ok(regs) => format!("{:#x}", regs.rip),
        Err(_) => "unknown".into(),
    }
}

/// The first instruction bytes KVM reports with an emulation failure (`struct
/// emulation_failure`: flags, then insn_size and up to 15 bytes), as hex.
fn emulation_failure_bytes(suberror: u32, data: &[u64]) -> Option<String> {
    const FLAG_INSTRUCTION_BYTES: u64 = 1;
    if suberror != SUBERROR_EMULATION || data.first()? & FLAG_INSTRUCTION_BYTES == 0 {
        return None;
    }
    let raw: Vec<u8> = data[1..].iter().flat_map(|w| w.to_le_bytes()).collect();
    let (size, bytes) = raw.split_first()?;
    let shown = bytes.iter().take(usize::from(*size).min(8));
    Some(
        shown
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Knocks each of `threads` out of KVM_RUN once (a pause repeats it until they park).
pub fn kick_threads(threads: &[libc::pthread_t]) {
    for thread in threads {
        // SAFETY: the caller holds pthread_ts of vCPU threads that have not been joined
        // (the list is emptied before they are), so they are valid; the signal has a no-op
        // handler.
        unsafe {
            libc::pthread_kill(*thread, kick_signal());
        }
    }
}

/// Stops every vCPU thread: the latch is already set; kick each thread out of KVM_RUN
/// until it exits (a kick can land just before KVM_RUN starts, so repeat), then join.
pub fn stop_vcpu_threads(threads: Vec<JoinHandle<()>>, exit: &ExitSignal) {
    debug_assert!(exit.is_stopped());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let running: Vec<&JoinHandle<()>> = threads.iter().filter(|t| !t.is_finished()).collect();
        if running.is_empty() || Instant::now() > deadline {
            break;
        }
        for thread in running {
            // SAFETY: the pthread_t is that of a thread we spawned and have not joined
            // (its JoinHandle is alive), so it is valid; the signal has a no-op handler.
            unsafe {
                libc::pthread_kill(thread.as_pthread_t(), kick_signal());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for thread in threads {
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!("a vCPU thread did not stop within 5 s; leaving it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulation_failure_bytes_are_decoded() {
        // flags = INSTRUCTION_BYTES, insn_size = 15, bytes cc 00 ...
        assert_eq!(
            emulation_failure_bytes(1, &[1, 0xcc0f, 0]).as_deref(),
            Some("cc 00 00 00 00 00 00 00")
        );
        assert_eq!(emulation_failure_bytes(1, &[0, 0xcc0f]), None);
        assert_eq!(emulation_failure_bytes(2, &[1, 0xcc0f]), None);
        assert_eq!(emulation_failure_bytes(1, &[]), None);
        assert_eq!(emulation_failure_bytes(1, &[1]), None);
    }
}
