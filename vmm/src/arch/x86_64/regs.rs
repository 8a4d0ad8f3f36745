//! Boot-time vCPU state: general registers, segments and control registers, FPU, MSRs,
//! and the local APIC's LINT pins.

use kvm_bindings::{kvm_fpu, kvm_lapic_state, kvm_msr_entry, kvm_regs, kvm_sregs, Msrs};
use vm_memory::{Address, Bytes, GuestMemoryError, GuestMemoryMmap};

use super::gdt::{segment_from_gdt, BOOT_GDT_32, BOOT_GDT_64, CODE_INDEX, DATA_INDEX, TSS_INDEX};
use super::layout::{BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, ZERO_PAGE_START};
use super::paging::setup_identity_map;

const X86_CR0_PE: u64 = 0x1;
const X86_CR0_ET: u64 = 0x10;
const X86_CR0_PG: u64 = 0x8000_0000;
const X86_CR4_PAE: u64 = 0x20;
const EFER_LME: u64 = 0x100;
const EFER_LMA: u64 = 0x400;
/// RFLAGS bit 1 is reserved and always set.
const RFLAGS_RESERVED: u64 = 0x2;

/// How the boot vCPU enters the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootEntry {
    /// 64-bit Linux boot protocol: long mode, paging on, RSI = zero page.
    Linux64 {
        /// Kernel entry point.
        entry: u64,
    },
    /// PVH: 32-bit protected mode, paging off, EBX = `hvm_start_info`.
    Pvh {
        /// PVH entry point (from the ELF note).
        entry: u64,
        /// Address of `hvm_start_info`.
        start_info: u64,
    },
}

/// General registers for the boot vCPU.
pub fn boot_regs(entry: BootEntry) -> kvm_regs {
    match entry {
        BootEntry::Linux64 { entry } => kvm_regs {
            rflags: RFLAGS_RESERVED,
            rip: entry,
            rsp: BOOT_STACK_POINTER.0,
            rbp: BOOT_STACK_POINTER.0,
            rsi: ZERO_PAGE_START.0,
            ..Default::default()
        },
        BootEntry::Pvh { entry, start_info } => kvm_regs {
            rflags: RFLAGS_RESERVED,
            rip: entry,
            rbx: start_info,
            ..Default::default()
        },
    }
}

/// Writes the GDT/IDT (and page tables for long mode) into guest memory and fills the
/// segment and control registers of `sregs` to match.
pub fn setup_boot_sregs(
    mem: &GuestMemoryMmap,
    entry: BootEntry,
    sregs: &mut kvm_sregs,
) -> Result<(), GuestMemoryError> {
    let gdt = match entry {
        BootEntry::Linux64 { .. } => BOOT_GDT_64,
        BootEntry::Pvh { .. } => BOOT_GDT_32,
    };
    for (i, descriptor) in (0u64..).zip(gdt.iter()) {
        mem.write_obj(*descriptor, BOOT_GDT_START.unchecked_add(i * 8))?;
    }
    // An empty IDT: any exception before the kernel installs its own triple-faults, which
    // the VMM reports as a reset.
    mem.write_obj(0u64, BOOT_IDT_START)?;
    sregs.gdt.base = BOOT_GDT_START.0;
    sregs.gdt.limit = 4 * 8 - 1;
    sregs.idt.base = BOOT_IDT_START.0;
    sregs.idt.limit = 7;

    let code = segment_from_gdt(gdt[usize::from(CODE_INDEX)], CODE_INDEX);
    let data = segment_from_gdt(gdt[usize::from(DATA_INDEX)], DATA_INDEX);
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = segment_from_gdt(gdt[usize::from(TSS_INDEX)], TSS_INDEX);

    match entry {
        BootEntry::Linux64 { .. } => {
            sregs.cr3 = setup_identity_map(mem)?;
            sregs.cr4 |= X86_CR4_PAE;
            sregs.cr0 |= X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
            sregs.efer |= EFER_LME | EFER_LMA;
        }
        BootEntry::Pvh { .. } => {
            sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
            sregs.cr4 = 0;
            sregs.efer = 0;
        }
    }
    Ok(())
}

/// x87 and SSE defaults (what a CPU reset gives).
pub fn boot_fpu() -> kvm_fpu {
    kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    }
}

const MSR_IA32_SYSENTER_CS: u32 = 0x174;
const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
const MSR_IA32_MISC_ENABLE_FAST_STRING: u64 = 0x1;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const MSR_IA32_TSC: u32 = 0x10;

/// MSRs every vCPU starts with: syscall MSRs cleared, TSC at 0, fast strings on.
pub fn boot_msrs() -> Result<Msrs, vmm_sys_util::fam::Error> {
    let entries: Vec<kvm_msr_entry> = [
        (MSR_IA32_SYSENTER_CS, 0),
        (MSR_IA32_SYSENTER_ESP, 0),
        (MSR_IA32_SYSENTER_EIP, 0),
        (MSR_STAR, 0),
        (MSR_CSTAR, 0),
        (MSR_KERNEL_GS_BASE, 0),
        (MSR_SYSCALL_MASK, 0),
        (MSR_LSTAR, 0),
        (MSR_IA32_TSC, 0),
        (MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING),
    ]
    .into_iter()
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    })
    .collect();
    Msrs::from_entries(&entries)
}

const APIC_LVT_LINT0: usize = 0x350;
const APIC_LVT_LINT1: usize = 0x360;
const APIC_MODE_NMI: u32 = 0x4;
const APIC_MODE_EXTINT: u32 = 0x7;

/// Wires LINT0 to the PIC (ExtINT) and LINT1 to NMI, as a PC BIOS leaves them, so the
/// guest gets PIC interrupts before it programs the IOAPIC.
pub fn set_lint_pins(lapic: &mut kvm_lapic_state) {
    for (reg, mode) in [
        (APIC_LVT_LINT0, APIC_MODE_EXTINT),
        (APIC_LVT_LINT1, APIC_MODE_NMI),
    ] {
        let value = lapic_reg(lapic, reg);
        // Delivery mode is bits 8-10.
        set_lapic_reg(lapic, reg, (value & !0x700) | (mode << 8));
    }
}

fn lapic_reg(lapic: &kvm_lapic_state, offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    for (b, r) in bytes.iter_mut().zip(&lapic.regs[offset..offset + 4]) {
        *b = r.to_ne_bytes()[0];
    }
    u32::from_le_bytes(bytes)
}

fn set_lapic_reg(lapic: &mut kvm_lapic_state, offset: usize, value: u32) {
    for (r, b) in lapic.regs[offset..offset + 4]
        .iter_mut()
        .zip(value.to_le_bytes())
    {
        *r = std::os::raw::c_char::from_ne_bytes([b]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::layout::PML4_START;

    #[test]
    fn long_mode_boot_state() {
        let mem = crate::memory::create_guest_memory(2 << 20, false).unwrap();
        let mut sregs = kvm_sregs::default();
        let entry = BootEntry::Linux64 { entry: 0x100_0000 };
        setup_boot_sregs(&mem, entry, &mut sregs).unwrap();
        assert_eq!(sregs.cr3, PML4_START.0);
        assert_ne!(sregs.cr0 & X86_CR0_PG, 0);
        assert_ne!(sregs.cr4 & X86_CR4_PAE, 0);
        assert_eq!(sregs.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
        assert_eq!((sregs.cs.l, sregs.cs.selector), (1, 0x8));
        let gdt1: u64 = mem.read_obj(BOOT_GDT_START.unchecked_add(8)).unwrap();
        assert_eq!(gdt1, BOOT_GDT_64[1]);
        let regs = boot_regs(entry);
        assert_eq!((regs.rip, regs.rsi), (0x100_0000, ZERO_PAGE_START.0));
    }

    #[test]
    fn pvh_boot_state() {
        let mem = crate::memory::create_guest_memory(2 << 20, false).unwrap();
        let mut sregs = kvm_sregs::default();
        let entry = BootEntry::Pvh {
            entry: 0x100_0000,
            start_info: 0x6000,
        };
        setup_boot_sregs(&mem, entry, &mut sregs).unwrap();
        assert_eq!(sregs.cr0, X86_CR0_PE | X86_CR0_ET);
        assert_eq!(sregs.efer, 0);
        assert_eq!((sregs.cs.l, sregs.cs.db), (0, 1));
        assert_eq!(boot_regs(entry).rbx, 0x6000);
    }

    #[test]
    fn lint_pins_get_extint_and_nmi() {
        let mut lapic = kvm_lapic_state::default();
        set_lapic_reg(&mut lapic, APIC_LVT_LINT0, 0x0001_0700);
        set_lint_pins(&mut lapic);
        assert_eq!(lapic_reg(&lapic, APIC_LVT_LINT0), 0x0001_0700);
        assert_eq!(lapic_reg(&lapic, APIC_LVT_LINT1), 0x400);
        assert_eq!(boot_msrs().unwrap().as_slice().len(), 10);
    }
}
