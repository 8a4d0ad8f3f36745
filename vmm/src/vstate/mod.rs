//! The only place that talks to KVM (kvm-ioctls). Everything above sees `Kvm`, `Vm`, `Vcpu`
//! and the `VmExit` enum, so device code never imports kvm-ioctls.

pub mod kvm;
pub mod vcpu;
pub mod vcpu_state;
pub mod vm;
pub mod vm_state;

pub use kvm::{Kvm, KvmError};
pub use vcpu::{SystemEventKind, Vcpu, VcpuError, VmExit};
pub use vcpu_state::VcpuState;
pub use vm::{Vm, VmError};
pub use vm_state::VmState;
