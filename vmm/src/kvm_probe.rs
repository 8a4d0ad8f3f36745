//! What kind of KVM this host has, measured rather than guessed: a tiny guest runs a
//! countdown loop in ring 0 and we time it. Hardware virtualization runs guest kernel code
//! at billions of instructions per second; a nested "KVM" that interprets ring-0 code
//! (e.g. kvm_pvm) manages a few million.

use std::path::Path;
use std::time::{Duration, Instant};

use kvm_bindings::{kvm_regs, kvm_segment};
use serde::Serialize;
use vm_memory::{Bytes, GuestAddress};

use crate::memory::{create_guest_memory, MemoryError};
use crate::vstate::kvm::KVM_DEVICE;
use crate::vstate::{Kvm, KvmError, Vcpu, VcpuError, VmError, VmExit};

/// Below this ring-0 speed, KVM is treated as emulation-only.
pub const HARDWARE_THRESHOLD_INSTR_PER_SEC: f64 = 100e6;

/// Guest-physical address of the probe loop.
const PROBE_CODE_ADDR: u64 = 0x1000;
/// I/O port the probe guest writes when the loop is done.
const PROBE_DONE_PORT: u16 = 0x80;
/// The probe guest, 32-bit protected mode, flat segments, ECX = loop count:
const PROBE_CODE: &[u8] = &[
    0xff, 0xc9, // 0x1000: dec ecx
    0x75, 0xfc, // 0x1002: jnz 0x1000
    0xe6, 0x80, // 0x1004: out 0x80, al   (done: exit to the VMM)
    0xf4, //       0x1006: hlt            (not reached)
];
/// Instructions executed per loop iteration (`dec` + `jnz`).
const INSTRUCTIONS_PER_ITERATION: u64 = 2;
/// First, short run: ~40k instructions, ~20 ms even at 2 M instructions/s.
const CALIBRATION_ITERATIONS: u32 = 20_000;
/// Longest measured run we aim for, whatever the budget.
const MAX_MEASURE_TIME: Duration = Duration::from_millis(50);

/// Errors probing KVM.
#[derive(Debug, thiserror::Error)]
pub enum KvmProbeError {
    /// /dev/kvm missing, inaccessible or lacking a capability.
    #[error("KVM is not usable")]
    Kvm(#[from] KvmError),
    /// Creating the probe VM failed.
    #[error("cannot set up the KVM probe VM")]
    Vm(#[from] VmError),
    /// Configuring or running the probe vCPU failed.
    #[error("the KVM probe vCPU failed")]
    Vcpu(#[from] VcpuError),
    /// Guest memory allocation failed.
    #[error("cannot allocate the KVM probe's guest memory")]
    Memory(#[from] MemoryError),
    /// The probe guest stopped somewhere other than its done port.
    #[error("the KVM probe guest stopped unexpectedly ({0}): this KVM cannot run hull's guests")]
    UnexpectedExit(String),
}

/// Whether KVM runs guest kernel code in hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvmKindHint {
    /// Ring-0 guest code runs at hardware speed.
    Hardware,
    /// Ring-0 guest code is interpreted (nested/PVM KVM): usable, very slow.
    EmulationOnly,
}

/// The measured speed of ring-0 guest code.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KvmProbe {
    /// Guest ring-0 instructions per second.
    pub instructions_per_sec: f64,
    /// Wall time of the measured run (VM setup excluded).
    pub elapsed: Duration,
    /// Hardware or emulation-only, by `HARDWARE_THRESHOLD_INSTR_PER_SEC`.
    pub kind_hint: KvmKindHint,
}

/// Measures KVM's ring-0 speed. Takes about 30-70 ms on any host (at most ~`budget / 4`
/// for the measured run, after a ~20 ms calibration on slow hosts); fails (never panics)
/// when /dev/kvm is absent or unusable.
pub fn probe_kvm(budget: Duration) -> Result<KvmProbe, KvmProbeError> {
    probe_kvm_device(Path::new(KVM_DEVICE), budget)
}

/// `probe_kvm` on the KVM device node at `device`.
pub fn probe_kvm_device(device: &Path, budget: Duration) -> Result<KvmProbe, KvmProbeError> {
    let kvm = Kvm::open_path(device)?;
    let vm = kvm.create_vm()?;
    let memory = create_guest_memory(0x10000, false)?;
    memory
        .write_slice(PROBE_CODE, GuestAddress(PROBE_CODE_ADDR))
        .map_err(|e| KvmProbeError::UnexpectedExit(format!("cannot write probe code: {e}")))?;
    vm.register_memory(&memory)?;
    let mut vcpu = vm.create_vcpu(0)?;
    set_flat_protected_mode(&vcpu)?;

    let calibration = run_loop(&mut vcpu, CALIBRATION_ITERATIONS)?;
    let rate = instructions_per_sec(CALIBRATION_ITERATIONS, calibration);
    let target = (budget / 4).min(MAX_MEASURE_TIME);
    let iterations = iterations_for(rate, target).max(CALIBRATION_ITERATIONS);
    let (iterations, elapsed) = if iterations == CALIBRATION_ITERATIONS {
        // Slow host: the calibration already took as long as a measurement may.
        (CALIBRATION_ITERATIONS, calibration)
    } else {
        (iterations, run_loop(&mut vcpu, iterations)?)
    };
    let instructions_per_sec = instructions_per_sec(iterations, elapsed);
    Ok(KvmProbe {
        instructions_per_sec,
        elapsed,
        kind_hint: classify(instructions_per_sec),
    })
}

/// Hardware or emulation-only for a measured ring-0 speed.
pub fn classify(instructions_per_sec: f64) -> KvmKindHint {
    if instructions_per_sec < HARDWARE_THRESHOLD_INSTR_PER_SEC {
        KvmKindHint::EmulationOnly
    } else {
        KvmKindHint::Hardware
    }
}

fn instructions_per_sec(iterations: u32, elapsed: Duration) -> f64 {
    let instructions = f64::from(iterations) * INSTRUCTIONS_PER_ITERATION as f64;
    instructions / elapsed.as_secs_f64().max(1e-9)
}

/// Loop iterations that take about `target` at `rate` instructions per second.
fn iterations_for(rate: f64, target: Duration) -> u32 {
    let wanted = rate * target.as_secs_f64() / INSTRUCTIONS_PER_ITERATION as f64;
    let wanted = wanted.clamp(1.0, f64::from(u32::MAX / 2));
    // Clamped to [1, u32::MAX / 2] just above (NaN saturates to 0): no truncation, no sign.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let iterations = wanted as u32;
    iterations.max(1)
}

/// Runs the countdown loop once from the top and returns its wall time.
fn run_loop(vcpu: &mut Vcpu, iterations: u32) -> Result<Duration, KvmProbeError> {
    vcpu.set_regs(&kvm_regs {
        rip: PROBE_CODE_ADDR,
        rcx: u64::from(iterations),
        rflags: 0x2, // bit 1 is reserved and must be set; interrupts off
        ..Default::default()
    })?;
    let start = Instant::now();
    loop {
        match vcpu.run()? {
            VmExit::IoOut {
                port: PROBE_DONE_PORT,
                ..
            } => return Ok(start.elapsed()),
            VmExit::Interrupted => continue,
            other => return Err(KvmProbeError::UnexpectedExit(format!("{other:?}"))),
        }
    }
}

/// 32-bit protected mode, paging off, flat 4 GiB code and data segments (as for PVH entry).
fn set_flat_protected_mode(vcpu: &Vcpu) -> Result<(), VcpuError> {
    let mut sregs = vcpu.sregs()?;
    let code = kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector: 0x8,
        type_: 0xb, // execute/read, accessed
        present: 1,
        dpl: 0,
        db: 1,
        s: 1,
        l: 0,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    let data = kvm_segment {
        selector: 0x10,
        type_: 0x3, // read/write, accessed
        ..code
    };
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.cr0 = 0x11; // PE | ET
    sregs.cr4 = 0;
    sregs.efer = 0;
    vcpu.set_sregs(&sregs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_threshold() {
        assert_eq!(classify(2e6), KvmKindHint::EmulationOnly);
        assert_eq!(classify(3e9), KvmKindHint::Hardware);
    }

    #[test]
    fn iteration_count_is_bounded() {
        assert_eq!(iterations_for(0.0, Duration::from_millis(50)), 1);
        assert_eq!(
            iterations_for(f64::INFINITY, Duration::from_secs(10)),
            u32::MAX / 2
        );
        assert_eq!(iterations_for(2e6, Duration::from_millis(50)), 50_000);
    }

    #[test]
    fn missing_kvm_device_is_an_error_naming_the_fix() {
        let err = probe_kvm_device(Path::new("/nonexistent/kvm"), Duration::from_secs(1))
            .expect_err("no KVM device");
        assert!(
            matches!(err, KvmProbeError::Kvm(KvmError::Open(_))),
            "{err:?}"
        );
        let source = std::error::Error::source(&err).expect("cause").to_string();
        assert!(source.contains("load the kvm module"), "{source}");
    }

    #[test]
    fn probe_measures_this_host() {
        if !std::path::Path::new("/dev/kvm").exists() {
            eprintln!("skipped: /dev/kvm does not exist on this host");
            return;
        }
        let start = Instant::now();
        let probe = probe_kvm(Duration::from_secs(1)).expect("probe on a host with /dev/kvm");
        let wall = start.elapsed();
        eprintln!("probe: {probe:?}, wall {wall:?}");
        assert!(probe.instructions_per_sec > 0.0);
        assert!(probe.elapsed > Duration::ZERO);
        assert_eq!(probe.kind_hint, classify(probe.instructions_per_sec));
        assert!(wall < Duration::from_secs(2), "probe took {wall:?}");
    }
}
