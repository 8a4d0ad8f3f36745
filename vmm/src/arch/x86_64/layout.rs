//! Every fixed guest-physical address, size and interrupt line hull-vmm uses on x86_64,
//! in one place. Keep the address constants sorted by address.
//!
//! ```text
//! 0x0000_0500  GDT (4 entries)          0x0000_0520  IDT (empty)
//! 0x0000_6000  PVH start_info           0x0000_6040  PVH module list
//! 0x0000_6100  PVH memory map           0x0000_7000  zero page (Linux boot_params)
//! 0x0000_8ff0  boot stack top           0x0000_9000  PML4, 0xa000 PDPT, 0xb000 PD
//! 0x0002_0000  kernel command line      0x0009_fc00  MP table (in the EBDA)
//! 0x0010_0000  kernel (HIMEM)           ... RAM ...
//! 0xd000_0000  MMIO hole: virtio-mmio slots, IOAPIC, LAPIC, KVM's TSS, up to 4 GiB
//! 0x1_0000_0000 RAM above the hole (only when the guest has more than 3.25 GiB)
//! ```

use vm_memory::GuestAddress;

/// Where the boot GDT goes (real-mode-reachable low memory, like Firecracker).
pub const BOOT_GDT_START: GuestAddress = GuestAddress(0x500);
/// Where the (empty) boot IDT goes.
pub const BOOT_IDT_START: GuestAddress = GuestAddress(0x520);
/// PVH `hvm_start_info` (the PVH entry gets its address in EBX).
pub const PVH_INFO_START: GuestAddress = GuestAddress(0x6000);
/// PVH module list (one entry: the initrd).
pub const PVH_MODLIST_START: GuestAddress = GuestAddress(0x6040);
/// PVH memory map (`hvm_memmap_table_entry` array).
pub const PVH_MEMMAP_START: GuestAddress = GuestAddress(0x6100);
/// Most PVH memory map entries that fit before the zero page.
pub const PVH_MEMMAP_MAX_ENTRIES: usize = (0x7000 - 0x6100) / 24;
/// The Linux zero page (`boot_params`); its address goes in RSI.
pub const ZERO_PAGE_START: GuestAddress = GuestAddress(0x7000);
/// Initial stack pointer of the boot vCPU (grows down, below the page tables).
pub const BOOT_STACK_POINTER: GuestAddress = GuestAddress(0x8ff0);
/// Level-4 page table of the boot identity map.
pub const PML4_START: GuestAddress = GuestAddress(0x9000);
/// Page-directory-pointer table of the boot identity map.
pub const PDPTE_START: GuestAddress = GuestAddress(0xa000);
/// Page directory (512 x 2 MiB = the first 1 GiB identity-mapped).
pub const PDE_START: GuestAddress = GuestAddress(0xb000);
/// Kernel command line.
pub const CMDLINE_START: GuestAddress = GuestAddress(0x20000);
/// Longest command line, NUL included (Linux x86 COMMAND_LINE_SIZE).
pub const CMDLINE_MAX_SIZE: usize = 2048;
/// Start of the EBDA; the MP table lives here and e820 reserves from here to 1 MiB.
pub const EBDA_START: GuestAddress = GuestAddress(0x9fc00);
/// MP floating pointer + configuration table.
pub const MPTABLE_START: GuestAddress = EBDA_START;
/// First byte above the legacy ISA hole (VGA/BIOS area, reserved in e820).
pub const HIMEM_START: GuestAddress = GuestAddress(0x10_0000);
/// Start of the 32-bit MMIO hole; guest RAM stops here and resumes at 4 GiB.
pub const MMIO_HOLE_START: GuestAddress = GuestAddress(0xd000_0000);
/// Size of the 32-bit MMIO hole (up to 4 GiB).
pub const MMIO_HOLE_SIZE: u64 = 0x3000_0000;
/// First virtio-mmio slot; slots are `MMIO_SLOT_SIZE` apart.
pub const VIRTIO_MMIO_START: GuestAddress = MMIO_HOLE_START;
/// Size of one virtio-mmio slot (the `4K` in `virtio_mmio.device=4K@ADDR:IRQ`).
pub const MMIO_SLOT_SIZE: u64 = 0x1000;
/// Most virtio-mmio devices (limited by the free IOAPIC pins, see `GSI_VIRTIO_*`).
pub const VIRTIO_MMIO_MAX_SLOTS: u32 = GSI_VIRTIO_LAST - GSI_VIRTIO_FIRST + 1;
/// IOAPIC MMIO base (KVM's in-kernel IOAPIC).
pub const IOAPIC_START: GuestAddress = GuestAddress(0xfec0_0000);
/// Local APIC MMIO base.
pub const APIC_START: GuestAddress = GuestAddress(0xfee0_0000);
/// Three pages KVM needs for the TSS on Intel without unrestricted guest; in the MMIO hole
/// above the LAPIC, where a PC's BIOS ROM would end (the usual spot, as in QEMU).
pub const KVM_TSS_ADDRESS: GuestAddress = GuestAddress(0xfffb_d000);
/// First address past 32 bits; RAM above the MMIO hole starts here.
pub const RAM_ABOVE_HOLE_START: GuestAddress = GuestAddress(1 << 32);

/// COM1 8250 UART I/O ports.
pub const COM1_PORT: u16 = 0x3f8;
/// COM1 interrupt line.
pub const COM1_GSI: u32 = 4;
/// i8042 data port (reads only).
pub const I8042_DATA_PORT: u16 = 0x60;
/// i8042 command/status port (0xFE written here resets the machine).
pub const I8042_COMMAND_PORT: u16 = 0x64;
/// hull's boot-timer port: the guest init writes `BOOT_TIMER_MAGIC` here once userspace runs.
pub const BOOT_TIMER_PORT: u16 = 0x3f4;
/// Value written to `BOOT_TIMER_PORT` that marks "userspace reached".
pub const BOOT_TIMER_MAGIC: u8 = 123;
/// QEMU's isa-debug-exit port that hull-init writes on exit; hull-vmm ignores it.
pub const ISA_DEBUG_EXIT_PORT: u16 = 0xf4;
/// First GSI handed to virtio-mmio devices (0-4 are timer/keyboard/cascade/COM2/COM1).
pub const GSI_VIRTIO_FIRST: u32 = 5;
/// Last GSI handed to virtio-mmio devices (the IOAPIC has 24 pins).
pub const GSI_VIRTIO_LAST: u32 = 23;

// The layout's invariants, checked at compile time.
const _: () = {
    // Low-memory boot structures sit in address order without overlapping.
    assert!(BOOT_GDT_START.0 + 4 * 8 <= BOOT_IDT_START.0);
    assert!(BOOT_IDT_START.0 + 8 <= PVH_INFO_START.0);
    assert!(PVH_INFO_START.0 + 0x40 <= PVH_MODLIST_START.0);
    assert!(PVH_MODLIST_START.0 + 0x20 <= PVH_MEMMAP_START.0);
    assert!(PVH_MEMMAP_START.0 + (PVH_MEMMAP_MAX_ENTRIES as u64) * 24 <= ZERO_PAGE_START.0);
    // The stack grows down from just below the page tables and stays above the zero page.
    assert!(ZERO_PAGE_START.0 + 0x1000 < BOOT_STACK_POINTER.0);
    assert!(BOOT_STACK_POINTER.0 < PML4_START.0);
    assert!(PML4_START.0 + 0x1000 <= PDPTE_START.0);
    assert!(PDPTE_START.0 + 0x1000 <= PDE_START.0);
    assert!(PDE_START.0 + 0x1000 <= CMDLINE_START.0);
    assert!(CMDLINE_START.0 + CMDLINE_MAX_SIZE as u64 <= MPTABLE_START.0);
    assert!(MPTABLE_START.0 < HIMEM_START.0);
    // The MMIO hole holds every virtio slot below the IOAPIC; the TSS sits above the LAPIC.
    assert!(VIRTIO_MMIO_START.0 + VIRTIO_MMIO_MAX_SLOTS as u64 * MMIO_SLOT_SIZE <= IOAPIC_START.0);
    assert!(IOAPIC_START.0 < APIC_START.0);
    assert!(APIC_START.0 + 0x1000 <= KVM_TSS_ADDRESS.0);
    assert!(KVM_TSS_ADDRESS.0 + 3 * 0x1000 <= RAM_ABOVE_HOLE_START.0);
    assert!(MMIO_HOLE_START.0 + MMIO_HOLE_SIZE == RAM_ABOVE_HOLE_START.0);
    assert!(GSI_VIRTIO_FIRST > COM1_GSI);
};
