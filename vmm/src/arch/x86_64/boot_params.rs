//! What the kernel is told at entry: the E820 memory map, and either the Linux zero page
//! (`boot_params`) or the PVH `hvm_start_info`.

use linux_loader::loader::bootparam::{boot_params, setup_header};
use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info,
};
use vm_memory::{Address, Bytes, GuestAddress, GuestMemoryError, GuestMemoryMmap};

use super::layout::{
    EBDA_START, HIMEM_START, PVH_INFO_START, PVH_MEMMAP_MAX_ENTRIES, PVH_MEMMAP_START,
    PVH_MODLIST_START, ZERO_PAGE_START,
};

/// E820 usable RAM.
pub const E820_RAM: u32 = 1;
/// E820 reserved.
pub const E820_RESERVED: u32 = 2;

const KERNEL_BOOT_FLAG_MAGIC: u16 = 0xaa55;
const KERNEL_HDR_MAGIC: u32 = 0x5372_6448; // "HdrS"
const KERNEL_LOADER_OTHER: u8 = 0xff;
const KERNEL_MIN_ALIGNMENT_BYTES: u32 = 0x100_0000;
const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;

/// One E820 entry: start, length, type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    /// First byte.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// `E820_RAM` or `E820_RESERVED`.
    pub kind: u32,
}

/// Where the command line and the initrd are.
#[derive(Debug, Clone, Copy)]
pub struct BootInputs {
    /// Command line address.
    pub cmdline_addr: GuestAddress,
    /// Command line length without the NUL.
    pub cmdline_len: usize,
    /// Initrd address and size.
    pub initrd: Option<(GuestAddress, u64)>,
}

/// The E820 map for guest RAM `ranges` (from `memory::ram_ranges`): low RAM up to the
/// EBDA, the EBDA/VGA/BIOS area reserved, then RAM from 1 MiB and above 4 GiB.
pub fn e820_map(ranges: &[(GuestAddress, u64)]) -> Vec<E820Entry> {
    let mut map = Vec::new();
    for &(start, size) in ranges {
        let end = start.0 + size;
        if start.0 < HIMEM_START.0 {
            map.push(E820Entry {
                addr: start.0,
                size: EBDA_START.0.min(end) - start.0,
                kind: E820_RAM,
            });
            map.push(E820Entry {
                addr: EBDA_START.0,
                size: HIMEM_START.0 - EBDA_START.0,
                kind: E820_RESERVED,
            });
            if end > HIMEM_START.0 {
                map.push(E820Entry {
                    addr: HIMEM_START.0,
                    size: end - HIMEM_START.0,
                    kind: E820_RAM,
                });
            }
        } else {
            map.push(E820Entry {
                addr: start.0,
                size,
                kind: E820_RAM,
            });
        }
    }
    map
}

/// The zero page for the 64-bit Linux boot protocol. `header` is the bzImage setup header
/// (None for an ELF vmlinux).
pub fn linux_boot_params(
    header: Option<setup_header>,
    inputs: &BootInputs,
    e820: &[E820Entry],
) -> boot_params {
    let mut params = boot_params::default();
    if let Some(header) = header {
        params.hdr = header;
    }
    params.hdr.type_of_loader = KERNEL_LOADER_OTHER;
    params.hdr.boot_flag = KERNEL_BOOT_FLAG_MAGIC;
    params.hdr.header = KERNEL_HDR_MAGIC;
    params.hdr.kernel_alignment = KERNEL_MIN_ALIGNMENT_BYTES;
    // Layout addresses are below 4 GiB and the command line is at most 2 KiB.
    params.hdr.cmd_line_ptr = u32::try_from(inputs.cmdline_addr.0).unwrap_or(0);
    params.hdr.cmdline_size = u32::try_from(inputs.cmdline_len).unwrap_or(0);
    if let Some((addr, size)) = inputs.initrd {
        params.hdr.ramdisk_image = u32::try_from(addr.0).unwrap_or(0);
        params.hdr.ramdisk_size = u32::try_from(size).unwrap_or(0);
    }
    let mut count = 0u8;
    for (slot, entry) in params.e820_table.iter_mut().zip(e820) {
        slot.addr = entry.addr;
        slot.size = entry.size;
        slot.r#type = entry.kind;
        count += 1;
    }
    params.e820_entries = count;
    params
}

/// Writes the zero page; its address goes in RSI.
pub fn write_linux_boot_params(
    mem: &GuestMemoryMmap,
    params: &boot_params,
) -> Result<GuestAddress, GuestMemoryError> {
    mem.write_obj(*params, ZERO_PAGE_START)?;
    Ok(ZERO_PAGE_START)
}

/// Writes `hvm_start_info`, the module list (the initrd) and the memory map for a PVH
/// entry; returns the start_info address (for EBX).
pub fn write_pvh_start_info(
    mem: &GuestMemoryMmap,
    inputs: &BootInputs,
    e820: &[E820Entry],
) -> Result<GuestAddress, GuestMemoryError> {
    let mut info = hvm_start_info {
        magic: XEN_HVM_START_MAGIC_VALUE,
        version: 1,
        cmdline_paddr: inputs.cmdline_addr.0,
        memmap_paddr: PVH_MEMMAP_START.0,
        ..Default::default()
    };
    if let Some((addr, size)) = inputs.initrd {
        let module = hvm_modlist_entry {
            paddr: addr.0,
            size,
            ..Default::default()
        };
        mem.write_obj(module, PVH_MODLIST_START)?;
        info.nr_modules = 1;
        info.modlist_paddr = PVH_MODLIST_START.0;
    }
    let mut entries = 0u32;
    for (i, entry) in (0u64..).zip(e820.iter().take(PVH_MEMMAP_MAX_ENTRIES)) {
        let table_entry = hvm_memmap_table_entry {
            addr: entry.addr,
            size: entry.size,
            type_: entry.kind,
            reserved: 0,
        };
        let at = PVH_MEMMAP_START.unchecked_add(i * 24);
        mem.write_obj(table_entry, at)?;
        entries += 1;
    }
    info.memmap_entries = entries;
    mem.write_obj(info, PVH_INFO_START)?;
    Ok(PVH_INFO_START)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{create_guest_memory, ram_ranges};

    const INPUTS: BootInputs = BootInputs {
        cmdline_addr: GuestAddress(0x20000),
        cmdline_len: 12,
        initrd: Some((GuestAddress(0x80_0000), 0x1234)),
    };

    #[test]
    fn e820_reserves_the_bios_area_and_skips_the_mmio_hole() {
        let map = e820_map(&ram_ranges(128 << 20));
        assert_eq!(
            map,
            vec![
                E820Entry {
                    addr: 0,
                    size: EBDA_START.0,
                    kind: E820_RAM
                },
                E820Entry {
                    addr: EBDA_START.0,
                    size: HIMEM_START.0 - EBDA_START.0,
                    kind: E820_RESERVED
                },
                E820Entry {
                    addr: HIMEM_START.0,
                    size: (128 << 20) - HIMEM_START.0,
                    kind: E820_RAM
                },
            ]
        );
        let big = e820_map(&ram_ranges(4 << 30));
        assert_eq!(big.len(), 4);
        assert_eq!(big[3].addr, 1 << 32);
        let ram: u64 = big
            .iter()
            .filter(|e| e.kind == E820_RAM)
            .map(|e| e.size)
            .sum();
        assert_eq!(ram, (4 << 30) - (HIMEM_START.0 - EBDA_START.0));
    }

    #[test]
    fn zero_page_fields() {
        let e820 = e820_map(&ram_ranges(64 << 20));
        let params = linux_boot_params(None, &INPUTS, &e820);
        assert_eq!({ params.hdr.boot_flag }, KERNEL_BOOT_FLAG_MAGIC);
        assert_eq!({ params.hdr.header }, KERNEL_HDR_MAGIC);
        assert_eq!({ params.hdr.type_of_loader }, 0xff);
        assert_eq!({ params.hdr.cmd_line_ptr }, 0x20000);
        assert_eq!({ params.hdr.cmdline_size }, 12);
        assert_eq!({ params.hdr.ramdisk_image }, 0x80_0000);
        assert_eq!({ params.hdr.ramdisk_size }, 0x1234);
        assert_eq!({ params.e820_entries }, 3);
        assert_eq!({ params.e820_table[2].addr }, HIMEM_START.0);
        // The zero page is exactly one page and lands at ZERO_PAGE_START.
        assert_eq!(std::mem::size_of::<boot_params>(), 4096);
        let mem = create_guest_memory(64 << 20, false).unwrap();
        write_linux_boot_params(&mem, &params).unwrap();
        let back: boot_params = mem.read_obj(ZERO_PAGE_START).unwrap();
        assert_eq!({ back.e820_entries }, 3);
    }

    #[test]
    fn pvh_start_info_points_at_memmap_and_initrd() {
        let mem = create_guest_memory(64 << 20, false).unwrap();
        let e820 = e820_map(&ram_ranges(64 << 20));
        let at = write_pvh_start_info(&mem, &INPUTS, &e820).unwrap();
        let info: hvm_start_info = mem.read_obj(at).unwrap();
        assert_eq!(info.magic, XEN_HVM_START_MAGIC_VALUE);
        assert_eq!(info.cmdline_paddr, 0x20000);
        assert_eq!(info.memmap_entries, 3);
        assert_eq!(info.nr_modules, 1);
        let module: hvm_modlist_entry = mem.read_obj(GuestAddress(info.modlist_paddr)).unwrap();
        assert_eq!((module.paddr, module.size), (0x80_0000, 0x1234));
        let third: hvm_memmap_table_entry =
            mem.read_obj(GuestAddress(info.memmap_paddr + 48)).unwrap();
        assert_eq!(third.addr, HIMEM_START.0);
    }
}
