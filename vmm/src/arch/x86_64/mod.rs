//! x86_64 boot: memory layout, kernel loading, boot_params/PVH, page tables, registers,
//! CPUID, MP table.

pub mod boot_params;
pub mod cpuid;
pub mod gdt;
pub mod kernel;
pub mod layout;
pub mod mptable;
pub mod paging;
pub mod regs;
