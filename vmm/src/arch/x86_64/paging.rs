//! Identity-mapped page tables for the 64-bit boot protocol: the first 1 GiB in 2 MiB pages,
//! which covers the kernel, the zero page and the command line.

use vm_memory::{Address, Bytes, GuestMemoryError, GuestMemoryMmap};

use super::layout::{PDE_START, PDPTE_START, PML4_START};

/// Present + writable.
const PRESENT_RW: u64 = 0x3;
/// Present + writable + 2 MiB page.
const PRESENT_RW_HUGE: u64 = 0x83;

/// Writes the tables and returns the value for CR3.
pub fn setup_identity_map(mem: &GuestMemoryMmap) -> Result<u64, GuestMemoryError> {
    mem.write_obj(PDPTE_START.0 | PRESENT_RW, PML4_START)?;
    mem.write_obj(PDE_START.0 | PRESENT_RW, PDPTE_START)?;
    for i in 0..512u64 {
        mem.write_obj((i << 21) | PRESENT_RW_HUGE, PDE_START.unchecked_add(i * 8))?;
    }
    Ok(PML4_START.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestAddress;

    /// Walks the tables like the MMU for a 2 MiB mapping.
    fn translate(mem: &GuestMemoryMmap, cr3: u64, va: u64) -> Option<u64> {
        let pml4e: u64 = mem
            .read_obj(GuestAddress(cr3 + ((va >> 39) & 511) * 8))
            .ok()?;
        if pml4e & 1 == 0 {
            return None;
        }
        let pdpte: u64 = mem
            .read_obj(GuestAddress((pml4e & !0xfff) + ((va >> 30) & 511) * 8))
            .ok()?;
        if pdpte & 1 == 0 {
            return None;
        }
        let pde: u64 = mem
            .read_obj(GuestAddress((pdpte & !0xfff) + ((va >> 21) & 511) * 8))
            .ok()?;
        if pde & 0x81 != 0x81 {
            return None;
        }
        Some((pde & !0x1f_ffff) | (va & 0x1f_ffff))
    }

    #[test]
    fn first_gib_is_identity_mapped_and_nothing_else() {
        let mem = crate::memory::create_guest_memory(2 << 20, false).unwrap();
        let cr3 = setup_identity_map(&mem).unwrap();
        for va in [0, 0x7000, 0x10_0000, 0x123_4567, (1 << 30) - 1] {
            assert_eq!(translate(&mem, cr3, va), Some(va), "{va:#x}");
        }
        assert_eq!(translate(&mem, cr3, 1 << 30), None);
    }
}
