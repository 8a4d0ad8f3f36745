//! One KVM vCPU: register setup and `run`, which turns KVM's exit into a `VmExit`.

use kvm_bindings::{
    kvm_fpu, kvm_lapic_state, kvm_regs, kvm_sregs, CpuId, Msrs, KVM_SYSTEM_EVENT_CRASH,
    KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
};
use kvm_ioctls::{VcpuExit, VcpuFd};

/// Errors configuring or running a vCPU.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    /// KVM_CREATE_VCPU failed.
    #[error("KVM_CREATE_VCPU failed")]
    Create(#[source] kvm_ioctls::Error),
    /// A register/state ioctl failed; `what` names it.
    #[error("cannot set the vCPU's {what}")]
    Set {
        /// Which state (e.g. "CPUID", "MSRs").
        what: &'static str,
        /// The failure.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// A state read failed; `what` names it.
    #[error("cannot read the vCPU's {what}")]
    Get {
        /// Which state.
        what: &'static str,
        /// The failure.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// KVM_SET_MSRS accepted fewer MSRs than given.
    #[error("KVM accepted only {set} of {wanted} boot MSRs")]
    PartialMsrs {
        /// How many were set.
        set: usize,
        /// How many were given.
        wanted: usize,
    },
    /// KVM_RUN failed with an unexpected errno.
    #[error("KVM_RUN failed")]
    Run(#[source] kvm_ioctls::Error),
}

/// Why the guest asked to stop (KVM_EXIT_SYSTEM_EVENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemEventKind {
    /// PSCI/ACPI-style power off.
    Shutdown,
    /// Reset request.
    Reset,
    /// Guest crash (panic notifier).
    Crash,
    /// Any other type number.
    Other(u32),
}

/// What made `Vcpu::run` return. Data slices point into KVM's shared run page and must be
/// handled (or filled, for reads) before the next `run`.
#[derive(Debug)]
pub enum VmExit<'a> {
    /// `in` from an I/O port: fill `data`.
    IoIn {
        /// The port.
        port: u16,
        /// Where the value read goes.
        data: &'a mut [u8],
    },
    /// `out` to an I/O port.
    IoOut {
        /// The port.
        port: u16,
        /// The value written.
        data: &'a [u8],
    },
    /// Read from an MMIO address no memory slot covers: fill `data`.
    MmioRead {
        /// Guest-physical address.
        addr: u64,
        /// Where the value read goes.
        data: &'a mut [u8],
    },
    /// Write to an MMIO address no memory slot covers.
    MmioWrite {
        /// Guest-physical address.
        addr: u64,
        /// The value written.
        data: &'a [u8],
    },
    /// `hlt` without an in-kernel LAPIC.
    Hlt,
    /// Triple fault (KVM_EXIT_SHUTDOWN): a reset on real hardware.
    Shutdown,
    /// The guest asked for shutdown/reset/crash handling.
    SystemEvent(SystemEventKind),
    /// KVM could not handle the guest (suberror 1 = instruction emulation failed).
    InternalError {
        /// KVM_INTERNAL_ERROR_* code.
        suberror: u32,
        /// KVM's extra data words (for emulation failures: flags, then the instruction
        /// bytes when KVM provides them).
        data: Vec<u64>,
    },
    /// The hardware refused to enter the guest.
    FailEntry {
        /// Hardware-specific reason.
        reason: u64,
    },
    /// A signal or `immediate_exit` interrupted KVM_RUN: check for a stop request, re-enter.
    Interrupted,
    /// Any exit hull-vmm does not handle; the name of the KVM exit.
    Unhandled(&'static str),
}

/// A vCPU file descriptor and its index.
pub struct Vcpu {
    pub(super) fd: VcpuFd,
    id: u8,
}

impl Vcpu {
    pub(super) fn new(fd: VcpuFd, id: u8) -> Self {
        Self { fd, id }
    }

    /// The vCPU's index (= its APIC id).
    pub fn id(&self) -> u8 {
        self.id
    }

    /// Sets the CPUID the guest sees.
    pub fn set_cpuid(&self, cpuid: &CpuId) -> Result<(), VcpuError> {
        self.fd.set_cpuid2(cpuid).map_err(|source| VcpuError::Set {
            what: "CPUID",
            source,
        })
    }

    /// Sets the model-specific registers; fails unless KVM accepts every one.
    pub fn set_msrs(&self, msrs: &Msrs) -> Result<(), VcpuError> {
        let set = self.fd.set_msrs(msrs).map_err(|source| VcpuError::Set {
            what: "MSRs",
            source,
        })?;
        let wanted = msrs.as_slice().len();
        if set != wanted {
            return Err(VcpuError::PartialMsrs { set, wanted });
        }
        Ok(())
    }

    /// Sets the general-purpose registers.
    pub fn set_regs(&self, regs: &kvm_regs) -> Result<(), VcpuError> {
        self.fd.set_regs(regs).map_err(|source| VcpuError::Set {
            what: "registers",
            source,
        })
    }

    /// Reads the general-purpose registers (RIP for error reports).
    pub fn regs(&self) -> Result<kvm_regs, VcpuError> {
        self.fd.get_regs().map_err(|source| VcpuError::Get {
            what: "registers",
            source,
        })
    }

    /// Reads the segment and control registers.
    pub fn sregs(&self) -> Result<kvm_sregs, VcpuError> {
        self.fd.get_sregs().map_err(|source| VcpuError::Get {
            what: "segment registers",
            source,
        })
    }

    /// Sets the segment and control registers.
    pub fn set_sregs(&self, sregs: &kvm_sregs) -> Result<(), VcpuError> {
        self.fd.set_sregs(sregs).map_err(|source| VcpuError::Set {
            what: "segment registers",
            source,
        })
    }

    /// Sets the x87/SSE state.
    pub fn set_fpu(&self, fpu: &kvm_fpu) -> Result<(), VcpuError> {
        self.fd.set_fpu(fpu).map_err(|source| VcpuError::Set {
            what: "FPU state",
            source,
        })
    }

    /// Reads the local APIC registers (needs the in-kernel irqchip).
    pub fn lapic(&self) -> Result<kvm_lapic_state, VcpuError> {
        self.fd.get_lapic().map_err(|source| VcpuError::Get {
            what: "local APIC",
            source,
        })
    }

    /// Sets the local APIC registers.
    pub fn set_lapic(&self, lapic: &kvm_lapic_state) -> Result<(), VcpuError> {
        self.fd.set_lapic(lapic).map_err(|source| VcpuError::Set {
            what: "local APIC",
            source,
        })
    }

    /// When set, the next `run` returns `VmExit::Interrupted` at once (used with a signal
    /// to stop a vCPU thread without a race).
    pub fn set_immediate_exit(&mut self, exit: bool) {
        self.fd.set_kvm_immediate_exit(u8::from(exit));
    }

    /// Runs the guest until it needs the VMM.
    pub fn run(&mut self) -> Result<VmExit<'_>, VcpuError> {
        // Kept as a raw pointer because the exit borrows `self.fd` for the returned lifetime.
        let kvm_run: *const kvm_bindings::kvm_run = self.fd.get_kvm_run();
        let exit = match self.fd.run() {
            Ok(exit) => exit,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                return Ok(VmExit::Interrupted)
            }
            Err(e) => return Err(VcpuError::Run(e)),
        };
        Ok(match exit {
            VcpuExit::IoIn(port, data) => VmExit::IoIn { port, data },
            VcpuExit::IoOut(port, data) => VmExit::IoOut { port, data },
            VcpuExit::MmioRead(addr, data) => VmExit::MmioRead { addr, data },
            VcpuExit::MmioWrite(addr, data) => VmExit::MmioWrite { addr, data },
            VcpuExit::Hlt => VmExit::Hlt,
            VcpuExit::Shutdown => VmExit::Shutdown,
            VcpuExit::SystemEvent(kind, _) => VmExit::SystemEvent(match kind {
                KVM_SYSTEM_EVENT_SHUTDOWN => SystemEventKind::Shutdown,
                KVM_SYSTEM_EVENT_RESET => SystemEventKind::Reset,
                KVM_SYSTEM_EVENT_CRASH => SystemEventKind::Crash,
                other => SystemEventKind::Other(other),
            }),
            VcpuExit::InternalError => {
                // SAFETY: `kvm_run` points into the run page mmap'd for the lifetime of
                // `self.fd`; after KVM_EXIT_INTERNAL_ERROR the kernel has filled the
                // `internal` member of the exit union.
                let internal = unsafe { (*kvm_run).__bindgen_anon_1.internal };
                let count = usize::try_from(internal.ndata)
                    .unwrap_or(0)
                    .min(internal.data.len());
                VmExit::InternalError {
                    suberror: internal.suberror,
                    data: internal.data[..count].to_vec(),
                }
            }
            VcpuExit::FailEntry(reason, _) => VmExit::FailEntry { reason },
            VcpuExit::Intr => VmExit::Interrupted,
            VcpuExit::Exception => VmExit::Unhandled("KVM_EXIT_EXCEPTION"),
            VcpuExit::Hypercall(_) => VmExit::Unhandled("KVM_EXIT_HYPERCALL"),
            VcpuExit::Debug(_) => VmExit::Unhandled("KVM_EXIT_DEBUG"),
            VcpuExit::IrqWindowOpen => VmExit::Unhandled("KVM_EXIT_IRQ_WINDOW_OPEN"),
            VcpuExit::X86Rdmsr(_) => VmExit::Unhandled("KVM_EXIT_X86_RDMSR"),
            VcpuExit::X86Wrmsr(_) => VmExit::Unhandled("KVM_EXIT_X86_WRMSR"),
            VcpuExit::MemoryFault { .. } => VmExit::Unhandled("KVM_EXIT_MEMORY_FAULT"),
            _ => VmExit::Unhandled("an unexpected KVM exit"),
        })
    }
}
