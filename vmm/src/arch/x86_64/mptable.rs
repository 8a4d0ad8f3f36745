//! Intel MultiProcessor Specification 1.4 table: how the guest kernel learns about its
//! vCPUs, the ISA bus and the IOAPIC (hull-vmm has no ACPI).

use vm_memory::{Bytes, GuestMemoryError, GuestMemoryMmap};

use super::layout::{APIC_START, GSI_VIRTIO_LAST, IOAPIC_START, MPTABLE_START};

/// Most vCPUs whose entries fit in the 1 KiB EBDA slot the MP table lives in.
pub const MAX_CPUS: u8 = 32;

const MPF_SIZE: usize = 16;
const MPF_SIZE_U32: u32 = 16;
const MPC_HEADER_SIZE: usize = 44;
const APIC_VERSION: u8 = 0x14;
const CPU_ENABLED: u8 = 1;
const CPU_BOOTPROCESSOR: u8 = 2;
/// Family 6 stepping signature, as Firecracker reports.
const CPU_SIGNATURE: u32 = 0x600;
/// FPU + APIC present.
const CPU_FEATURES: u32 = 0x201;
const ENTRY_PROCESSOR: u8 = 0;
const ENTRY_BUS: u8 = 1;
const ENTRY_IOAPIC: u8 = 2;
const ENTRY_INTSRC: u8 = 3;
const ENTRY_LINTSRC: u8 = 4;
const IRQ_TYPE_INT: u8 = 0;
const IRQ_TYPE_NMI: u8 = 1;
const IRQ_TYPE_EXTINT: u8 = 3;
const IOAPIC_ENABLED: u8 = 1;

/// Errors writing the MP table.
#[derive(Debug, thiserror::Error)]
pub enum MptableError {
    /// More vCPUs than fit.
    #[error("{0} vCPUs do not fit in the MP table: use at most {MAX_CPUS}")]
    TooManyCpus(u8),
    /// No vCPUs.
    #[error("a VM needs at least one vCPU")]
    NoCpus,
    /// Guest memory write failed (guest RAM too small).
    #[error("cannot write the MP table into guest memory")]
    Write(#[source] GuestMemoryError),
}

/// The MP floating pointer followed by the configuration table, for `cpu_count` vCPUs with
/// APIC ids 0..cpu_count (vCPU 0 boots).
pub fn build_mptable(cpu_count: u8) -> Result<Vec<u8>, MptableError> {
    if cpu_count == 0 {
        return Err(MptableError::NoCpus);
    }
    if cpu_count > MAX_CPUS {
        return Err(MptableError::TooManyCpus(cpu_count));
    }
    let ioapic_id = cpu_count + 1;
    let mut entries = Vec::new();
    let mut entry_count: u16 = 0;
    for apic_id in 0..cpu_count {
        let flags = CPU_ENABLED | if apic_id == 0 { CPU_BOOTPROCESSOR } else { 0 };
        entries.extend_from_slice(&[ENTRY_PROCESSOR, apic_id, APIC_VERSION, flags]);
        entries.extend_from_slice(&CPU_SIGNATURE.to_le_bytes());
        entries.extend_from_slice(&CPU_FEATURES.to_le_bytes());
        entries.extend_from_slice(&[0; 8]);
        entry_count += 1;
    }
    entries.extend_from_slice(&[ENTRY_BUS, 0]);
    entries.extend_from_slice(b"ISA   ");
    entry_count += 1;
    entries.extend_from_slice(&[ENTRY_IOAPIC, ioapic_id, APIC_VERSION, IOAPIC_ENABLED]);
    entries.extend_from_slice(&u32_of(IOAPIC_START.0).to_le_bytes());
    entry_count += 1;
    // Every IOAPIC pin routed from the ISA IRQ of the same number (conforming polarity and
    // trigger: edge, active high), which also covers the virtio-mmio GSIs.
    for irq in 0..=u8_of(GSI_VIRTIO_LAST) {
        entries.extend_from_slice(&[ENTRY_INTSRC, IRQ_TYPE_INT, 0, 0, 0, irq, ioapic_id, irq]);
        entry_count += 1;
    }
    // LINT0: the PIC's ExtINT to the BSP; LINT1: NMI to every CPU.
    entries.extend_from_slice(&[ENTRY_LINTSRC, IRQ_TYPE_EXTINT, 0, 0, 0, 0, 0, 0]);
    entries.extend_from_slice(&[ENTRY_LINTSRC, IRQ_TYPE_NMI, 0, 0, 0, 0, 0xff, 1]);
    entry_count += 2;

    let table_addr = u32_of(MPTABLE_START.0) + MPF_SIZE_U32;
    let table_len = u16::try_from(MPC_HEADER_SIZE + entries.len()).unwrap_or(u16::MAX);
    let mut table = Vec::with_capacity(usize::from(table_len));
    table.extend_from_slice(b"PCMP");
    table.extend_from_slice(&table_len.to_le_bytes());
    table.extend_from_slice(&[4, 0]); // spec revision 1.4, checksum (below)
    table.extend_from_slice(b"HULL    "); // OEM id
    table.extend_from_slice(b"HULL-VMM    "); // product id
    table.extend_from_slice(&0u32.to_le_bytes()); // OEM table pointer
    table.extend_from_slice(&0u16.to_le_bytes()); // OEM table size
    table.extend_from_slice(&entry_count.to_le_bytes());
    table.extend_from_slice(&u32_of(APIC_START.0).to_le_bytes());
    table.extend_from_slice(&0u32.to_le_bytes()); // extended table length + checksum + reserved
    table.extend_from_slice(&entries);
    table[7] = checksum_byte(&table);

    let mut mpf = Vec::with_capacity(MPF_SIZE + table.len());
    mpf.extend_from_slice(b"_MP_");
    mpf.extend_from_slice(&table_addr.to_le_bytes());
    mpf.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]); // 1 paragraph, spec 1.4, checksum, features
    mpf[10] = checksum_byte(&mpf);
    mpf.extend_from_slice(&table);
    Ok(mpf)
}

/// Writes the MP table for `cpu_count` vCPUs at `MPTABLE_START`.
pub fn setup_mptable(mem: &GuestMemoryMmap, cpu_count: u8) -> Result<(), MptableError> {
    let bytes = build_mptable(cpu_count)?;
    mem.write_slice(&bytes, MPTABLE_START)
        .map_err(MptableError::Write)
}

/// The byte that makes `bytes` sum to zero (mod 256).
fn checksum_byte(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)))
}

/// A layout constant below 4 GiB as u32 (called with constants only; 0 can't happen).
fn u32_of(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// A GSI number as u8 (the IOAPIC has 24 pins).
fn u8_of(value: u32) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
    }

    #[test]
    fn checksums_and_entry_counts_are_right() {
        for cpus in [1, 2, MAX_CPUS] {
            let bytes = build_mptable(cpus).unwrap();
            assert_eq!(&bytes[..4], b"_MP_");
            assert_eq!(sum(&bytes[..MPF_SIZE]), 0);
            let table = &bytes[MPF_SIZE..];
            assert_eq!(&table[..4], b"PCMP");
            let len = usize::from(u16::from_le_bytes([table[4], table[5]]));
            assert_eq!(len, table.len());
            assert_eq!(sum(table), 0);
            let count = u16::from_le_bytes([table[34], table[35]]);
            assert_eq!(usize::from(count), usize::from(cpus) + 2 + 24 + 2);
            let physptr = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            assert_eq!(u64::from(physptr), MPTABLE_START.0 + MPF_SIZE as u64);
            // Fits in the EBDA's last KiB below 640 KiB.
            assert!(
                bytes.len() <= 0x400,
                "{} bytes for {cpus} cpus",
                bytes.len()
            );
        }
    }

    #[test]
    fn processor_entries_mark_only_the_bsp() {
        let bytes = build_mptable(2).unwrap();
        let first = MPF_SIZE + MPC_HEADER_SIZE;
        assert_eq!(&bytes[first..first + 4], &[0, 0, APIC_VERSION, 3]);
        assert_eq!(&bytes[first + 20..first + 24], &[0, 1, APIC_VERSION, 1]);
    }

    #[test]
    fn bad_cpu_counts_are_errors() {
        assert!(matches!(build_mptable(0), Err(MptableError::NoCpus)));
        assert!(matches!(
            build_mptable(33),
            Err(MptableError::TooManyCpus(33))
        ));
    }
}
