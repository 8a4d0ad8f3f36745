//! The boot GDT and the segment registers derived from it.

use kvm_bindings::kvm_segment;

/// Selector index of the code segment in `BOOT_GDT_*`.
pub const CODE_INDEX: u8 = 1;
/// Selector index of the data segment.
pub const DATA_INDEX: u8 = 2;
/// Selector index of the TSS.
pub const TSS_INDEX: u8 = 3;

/// GDT for the 64-bit Linux boot protocol: null, 64-bit code, data, TSS.
pub const BOOT_GDT_64: [u64; 4] = [
    0,
    gdt_entry(0xa09b, 0, 0xfffff), // code: L=1, present, DPL 0, execute/read, accessed
    gdt_entry(0xc093, 0, 0xfffff), // data: D/B=1, G=1, present, read/write, accessed
    gdt_entry(0x808b, 0, 0xfffff), // TSS: present, busy 32-bit TSS
];

/// GDT for the PVH entry (32-bit protected mode): null, 32-bit code, data, TSS.
pub const BOOT_GDT_32: [u64; 4] = [
    0,
    gdt_entry(0xc09b, 0, 0xfffff), // code: D/B=1, G=1, present, execute/read, accessed
    gdt_entry(0xc093, 0, 0xfffff),
    gdt_entry(0x808b, 0, 0xfffff),
];

/// Packs a segment descriptor. `flags` holds the access byte (bits 0-7) and the
/// G/D/L/AVL nibble (bits 12-15), as in Linux's `GDT_ENTRY`.
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    ((base as u64 & 0xff00_0000) << (56 - 24))
        | ((flags as u64 & 0x0000_f0ff) << 40)
        | ((limit as u64 & 0x000f_0000) << (48 - 16))
        | ((base as u64 & 0x00ff_ffff) << 16)
        | (limit as u64 & 0x0000_ffff)
}

/// The KVM segment register a descriptor loads as, for selector index `index`.
pub fn segment_from_gdt(entry: u64, index: u8) -> kvm_segment {
    let limit = entry_limit(entry);
    let granular = (entry >> 55) & 1 == 1;
    kvm_segment {
        base: entry_base(entry),
        // With G=1 the limit counts 4 KiB pages; KVM wants it in bytes.
        limit: if granular {
            (limit << 12) | 0xfff
        } else {
            limit
        },
        selector: u16::from(index) * 8,
        type_: bits(entry, 40, 4),
        present: bits(entry, 47, 1),
        dpl: bits(entry, 45, 2),
        db: bits(entry, 54, 1),
        s: bits(entry, 44, 1),
        l: bits(entry, 53, 1),
        g: u8::from(granular),
        avl: bits(entry, 52, 1),
        padding: 0,
        // A non-present segment is "unusable" to VMX.
        unusable: u8::from(bits(entry, 47, 1) == 0),
    }
}

fn bits(entry: u64, shift: u32, width: u32) -> u8 {
    // `width` is at most 4 here, so the masked value fits a u8.
    u8::try_from((entry >> shift) & ((1 << width) - 1)).unwrap_or(0)
}

fn entry_base(entry: u64) -> u64 {
    ((entry & 0xff00_0000_0000_0000) >> 32)
        | ((entry & 0x0000_00ff_0000_0000) >> 16)
        | ((entry & 0x0000_0000_ffff_0000) >> 16)
}

fn entry_limit(entry: u64) -> u32 {
    let limit = ((entry & 0x000f_0000_0000_0000) >> 32) | (entry & 0x0000_0000_0000_ffff);
    u32::try_from(limit).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code64_segment_decodes_like_linux_expects() {
        let cs = segment_from_gdt(BOOT_GDT_64[usize::from(CODE_INDEX)], CODE_INDEX);
        assert_eq!(cs.selector, 0x8);
        assert_eq!((cs.type_, cs.present, cs.dpl, cs.s), (0xb, 1, 0, 1));
        assert_eq!((cs.l, cs.db, cs.g), (1, 0, 1));
        assert_eq!((cs.base, cs.limit), (0, 0xffff_ffff));
    }

    #[test]
    fn data_and_tss_segments() {
        let ds = segment_from_gdt(BOOT_GDT_64[usize::from(DATA_INDEX)], DATA_INDEX);
        assert_eq!((ds.selector, ds.type_, ds.db, ds.l), (0x10, 0x3, 1, 0));
        let tr = segment_from_gdt(BOOT_GDT_64[usize::from(TSS_INDEX)], TSS_INDEX);
        assert_eq!(
            (tr.selector, tr.type_, tr.s, tr.unusable),
            (0x18, 0xb, 0, 0)
        );
        let cs32 = segment_from_gdt(BOOT_GDT_32[usize::from(CODE_INDEX)], CODE_INDEX);
        assert_eq!((cs32.l, cs32.db), (0, 1));
    }

    #[test]
    fn base_and_limit_round_trip() {
        let e = gdt_entry(0x4093, 0x1234_5678, 0xabcde);
        let s = segment_from_gdt(e, 5);
        assert_eq!(s.base, 0x1234_5678);
        assert_eq!(s.limit, 0xabcde);
        assert_eq!(s.g, 0);
        assert_eq!(segment_from_gdt(0, 0).unusable, 1);
    }
}
