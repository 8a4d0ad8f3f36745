//! The only place that talks to KVM (kvm-ioctls). Everything above sees `Kvm`, `Vm`, `Vcpu`
//! and the `VmExit` enum, so device code never imports kvm-ioctls.

pub mod kvm;
pub mod vcpu;
pub mod vm;

pub use kvm::{Kvm, KvmError};
pub use vcpu::{SystemEventKind, Vcpu, VcpuError, VmExit};
pub use vm::{Vm, VmError};
