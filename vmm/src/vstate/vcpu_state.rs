//! A vCPU's whole architectural state, read from KVM for a snapshot and written back into a
//! fresh vCPU on restore (Firecracker's `save_state`/`restore_state` order: CPUID and MSRs
//! first, then registers, extended state, LAPIC, the TSC deadline, MP state, and the
//! pending events last, as they refer to the LAPIC).

use kvm_bindings::{
    kvm_cpuid_entry2, kvm_debugregs, kvm_lapic_state, kvm_mp_state, kvm_msr_entry, kvm_regs,
    kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave, CpuId, Msrs,
};
use serde::{Deserialize, Serialize};

use super::vcpu::{Vcpu, VcpuError};

/// IA32_TSC_DEADLINE: written last, after IA32_TSC (it counts against the TSC) and after
/// the LAPIC (KVM drops a deadline written while the LVT timer is not in TSC-deadline mode,
/// as in a fresh vCPU: the restored guest's timer would never fire; QEMU's
/// kvm_put_tscdeadline_msr has the same order for the same reason).
const MSR_IA32_TSC_DEADLINE: u32 = 0x6e0;
/// Most MSRs one KVM_GET_MSRS/KVM_SET_MSRS call carries (KVM's own limit).
const MSRS_PER_CALL: usize = kvm_bindings::KVM_MAX_MSR_ENTRIES;

/// Everything KVM holds for one vCPU.
#[derive(Serialize, Deserialize)]
pub struct VcpuState {
    /// The vCPU's index.
    pub id: u8,
    /// CPUID as the guest saw it (KVM_GET_CPUID2).
    pub cpuid: Vec<kvm_cpuid_entry2>,
    /// Every MSR KVM would save (index, value), from KVM_GET_MSR_INDEX_LIST.
    pub msrs: Vec<kvm_msr_entry>,
    /// General-purpose registers.
    pub regs: kvm_regs,
    /// Segment, control and descriptor-table registers.
    pub sregs: kvm_sregs,
    /// x87/SSE/AVX state (legacy 4 KiB KVM_GET_XSAVE); None where KVM refused it (nothing
    /// then restores the FPU: the guest keeps the fresh vCPU's reset state).
    pub xsave: Option<kvm_xsave>,
    /// XCR0 and friends; None where KVM has no XSAVE support.
    pub xcrs: Option<kvm_xcrs>,
    /// DR0-3, DR6, DR7.
    pub debug_regs: kvm_debugregs,
    /// The in-kernel local APIC's register page.
    pub lapic: kvm_lapic_state,
    /// Running, halted, waiting for SIPI...
    pub mp_state: kvm_mp_state,
    /// Pending exceptions, interrupts, NMIs, SMM state.
    pub events: kvm_vcpu_events,
}

impl std::fmt::Debug for VcpuState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuState")
            .field("id", &self.id)
            .field("rip", &format_args!("{:#x}", self.regs.rip))
            .field("msrs", &self.msrs.len())
            .field("cpuid", &self.cpuid.len())
            .finish_non_exhaustive()
    }
}

fn get<T>(what: &'static str, r: Result<T, kvm_ioctls::Error>) -> Result<T, VcpuError> {
    r.map_err(|source| VcpuError::Get { what, source })
}

fn set<T>(what: &'static str, r: Result<T, kvm_ioctls::Error>) -> Result<T, VcpuError> {
    r.map_err(|source| VcpuError::Set { what, source })
}

impl Vcpu {
    /// Reads the vCPU's state; `msr_indices` is KVM's list of MSRs to save. The vCPU must
    /// be outside KVM_RUN (paused).
    pub fn save_state(&self, msr_indices: &[u32]) -> Result<VcpuState, VcpuError> {
        let fd = &self.fd;
        let cpuid = get("CPUID", fd.get_cpuid2(kvm_bindings::KVM_MAX_CPUID_ENTRIES))?;
        let xsave = fd.get_xsave().ok();
        let xcrs = fd.get_xcrs().ok();
        Ok(VcpuState {
            id: self.id(),
            cpuid: cpuid.as_slice().to_vec(),
            msrs: self.save_msrs(msr_indices)?,
            regs: get("registers", fd.get_regs())?,
            sregs: get("segment registers", fd.get_sregs())?,
            xsave,
            xcrs,
            debug_regs: get("debug registers", fd.get_debug_regs())?,
            lapic: get("local APIC", fd.get_lapic())?,
            mp_state: get("MP state", fd.get_mp_state())?,
            events: get("pending events", fd.get_vcpu_events())?,
        })
    }

    /// Reads every MSR of `indices` KVM can read. KVM_GET_MSRS stops at the first MSR it
    /// cannot read (some in the index list depend on CPUID features the guest lacks): that
    /// one is left out and the rest read on.
    fn save_msrs(&self, indices: &[u32]) -> Result<Vec<kvm_msr_entry>, VcpuError> {
        let mut saved = Vec::with_capacity(indices.len());
        let mut rest = indices;
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(MSRS_PER_CALL)];
            let entries: Vec<kvm_msr_entry> = chunk
                .iter()
                .map(|&index| kvm_msr_entry {
                    index,
                    ..Default::default()
                })
                .collect();
            let mut msrs = Msrs::from_entries(&entries).map_err(|_| VcpuError::Get {
                what: "MSRs",
                source: kvm_ioctls::Error::new(libc::E2BIG),
            })?;
            let read = get("MSRs", self.fd.get_msrs(&mut msrs))?;
            saved.extend_from_slice(&msrs.as_slice()[..read.min(chunk.len())]);
            if read < chunk.len() {
                tracing::debug!("MSR {:#x} is not readable; not saved", chunk[read]);
            }
            // Skip the unreadable one (if any) and go on after it.
            let consumed = if read < chunk.len() {
                read + 1
            } else {
                chunk.len()
            };
            rest = &rest[consumed..];
        }
        Ok(saved)
    }

    /// Writes `state` into this (fresh) vCPU.
    pub fn restore_state(&self, state: &VcpuState) -> Result<(), VcpuError> {
        let fd = &self.fd;
        let cpuid = CpuId::from_entries(&state.cpuid).map_err(|_| VcpuError::Set {
            what: "CPUID",
            source: kvm_ioctls::Error::new(libc::E2BIG),
        })?;
        self.set_cpuid(&cpuid)?;
        let (deadline, msrs): (Vec<kvm_msr_entry>, Vec<kvm_msr_entry>) = state
            .msrs
            .iter()
            .partition(|entry| entry.index == MSR_IA32_TSC_DEADLINE);
        self.restore_msrs(&msrs)?;
        self.set_sregs(&state.sregs)?;
        self.set_regs(&state.regs)?;
        if let Some(xsave) = &state.xsave {
            // SAFETY: `xsave` is a whole kvm_xsave (4 KiB region) owned by `state`; KVM reads
            // no more than that struct from the legacy KVM_SET_XSAVE.
            set("XSAVE state", unsafe { fd.set_xsave(xsave) })?;
        }
        if let Some(xcrs) = &state.xcrs {
            set("XCRs", fd.set_xcrs(xcrs))?;
        }
        set("debug registers", fd.set_debug_regs(&state.debug_regs))?;
        self.set_lapic(&state.lapic)?;
        self.restore_msrs(&deadline)?;
        set("MP state", fd.set_mp_state(state.mp_state))?;
        set("pending events", fd.set_vcpu_events(&state.events))
    }

    /// Writes the MSRs `saved`, at most KVM's limit per call.
    fn restore_msrs(&self, saved: &[kvm_msr_entry]) -> Result<(), VcpuError> {
        for chunk in saved.chunks(MSRS_PER_CALL) {
            let msrs = Msrs::from_entries(chunk).map_err(|_| VcpuError::Set {
                what: "MSRs",
                source: kvm_ioctls::Error::new(libc::E2BIG),
            })?;
            self.set_msrs(&msrs)?;
        }
        Ok(())
    }
}
