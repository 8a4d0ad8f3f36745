//! CPUID for each vCPU: KVM's supported leaves, adjusted so the guest sees a VM with
//! `cpu_count` single-threaded cores in one package and its own APIC id.

use kvm_bindings::{kvm_cpuid_entry2, CpuId};

const LEAF_FEATURES: u32 = 0x1;
const LEAF_CACHE_PARAMS: u32 = 0x4;
/// Structured extended features (subleaf 0).
const LEAF_STRUCT_EXT: u32 = 0x7;
const LEAF_PERF_MON: u32 = 0xa;
const LEAF_TOPOLOGY: u32 = 0xb;
/// V2 extended topology; same layout as 0xB, preferred by Linux when present.
const LEAF_TOPOLOGY_V2: u32 = 0x1f;
const LEAF_EXT_FEATURES: u32 = 0x8000_0001;
const LEAF_EXT_ADDR_SIZES: u32 = 0x8000_0008;
/// AMD extended APIC id / core id.
const LEAF_AMD_TOPOLOGY: u32 = 0x8000_001e;

/// Leaf 1 ECX: running under a hypervisor.
const ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX: EBX[23:16] holds the logical processor count.
const EDX_HTT: u32 = 1 << 28;
/// Leaf 0x80000001 ECX: core count comes from 0x80000008 (AMD).
const ECX_CMP_LEGACY: u32 = 1 << 1;
/// Leaf 0xB ECX[15:8] level types.
const LEVEL_TYPE_SMT: u32 = 1;
const LEVEL_TYPE_CORE: u32 = 2;

/// The CPU vendor string the guest is told (None: the host's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuVendor {
    /// "GenuineIntel"
    Intel,
    /// "AuthenticAMD"
    Amd,
}

impl CpuVendor {
    /// The 12-byte vendor string as CPUID leaf 0 returns it in EBX, EDX, ECX.
    fn registers(self) -> (u32, u32, u32) {
        let s: &[u8; 12] = match self {
            CpuVendor::Intel => b"GenuineIntel",
            CpuVendor::Amd => b"AuthenticAMD",
        };
        let word = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        (word(0), word(4), word(8))
    }
}

/// What the guest is told about its CPU beyond topology.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestCpu {
    /// Vendor string override (None: the host's).
    pub vendor: Option<CpuVendor>,
    /// Hide features whose instructions an emulation-only KVM cannot emulate in ring 0
    /// (`UNEMULATED_FEATURES`), so the guest kernel never uses them.
    pub hide_unemulated: bool,
}

/// Feature bits hidden on emulation-only KVM: (leaf, subleaf, register, bit, name). Each
/// one's instruction stops the guest with an emulation failure when the kernel uses it
/// (measured with Linux 6.1, see /work/shared/notes/kvm-on-this-host.md).
pub const UNEMULATED_FEATURES: &[(u32, u32, Reg, u32, &str)] = &[
    (
        LEAF_FEATURES,
        0,
        Reg::Ecx,
        13,
        "cx16 (lock cmpxchg16b in SLUB)",
    ),
    (LEAF_FEATURES, 0, Reg::Ecx, 23, "popcnt"),
    (LEAF_FEATURES, 0, Reg::Ecx, 26, "xsave (xrstor)"),
    (LEAF_FEATURES, 0, Reg::Ecx, 27, "osxsave"),
    (LEAF_FEATURES, 0, Reg::Ecx, 28, "avx (needs xsave)"),
    (LEAF_EXT_FEATURES, 0, Reg::Ecx, 5, "abm (lzcnt)"),
    (
        LEAF_STRUCT_EXT,
        0,
        Reg::Ebx,
        0,
        "fsgsbase (rdgsbase/wrfsbase)",
    ),
    (LEAF_STRUCT_EXT, 0, Reg::Ebx, 5, "avx2 (needs xsave)"),
    (
        LEAF_STRUCT_EXT,
        0,
        Reg::Ebx,
        9,
        "erms (byte-wise rep movsb, paid per byte)",
    ),
    (LEAF_STRUCT_EXT, 0, Reg::Ebx, 20, "smap (clac/stac)"),
    (LEAF_STRUCT_EXT, 0, Reg::Ecx, 3, "pku (wrpkru)"),
    (
        LEAF_STRUCT_EXT,
        0,
        Reg::Edx,
        4,
        "fsrm (byte-wise rep movsb)",
    ),
];

/// A CPUID output register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// EBX
    Ebx,
    /// ECX
    Ecx,
    /// EDX
    Edx,
}

/// Returns KVM's supported CPUID adjusted for vCPU `apic_id` of `cpu_count`.
pub fn filter_cpuid(supported: &CpuId, apic_id: u8, cpu_count: u8, cpu: GuestCpu) -> CpuId {
    let vendor = cpu.vendor;
    let mut cpuid = supported.clone();
    let count = u32::from(cpu_count.max(1));
    let id = u32::from(apic_id);
    // Bits needed to number `count` cores (x2APIC id shift for the core level).
    let core_shift = u32::BITS - (count - 1).leading_zeros();
    for entry in cpuid.as_mut_slice() {
        filter_entry(entry, id, count, core_shift, vendor);
        if cpu.hide_unemulated {
            hide_unemulated(entry);
        }
    }
    cpuid
}

fn hide_unemulated(entry: &mut kvm_cpuid_entry2) {
    for &(leaf, subleaf, reg, bit, _) in UNEMULATED_FEATURES {
        if entry.function == leaf && entry.index == subleaf {
            let register = match reg {
                Reg::Ebx => &mut entry.ebx,
                Reg::Ecx => &mut entry.ecx,
                Reg::Edx => &mut entry.edx,
            };
            *register &= !(1 << bit);
        }
    }
}

fn filter_entry(
    entry: &mut kvm_cpuid_entry2,
    id: u32,
    count: u32,
    core_shift: u32,
    vendor: Option<CpuVendor>,
) {
    match entry.function {
        0 => {
            if let Some(vendor) = vendor {
                (entry.ebx, entry.edx, entry.ecx) = vendor.registers();
            }
        }
        LEAF_FEATURES => {
            entry.ecx |= ECX_HYPERVISOR;
            // EBX: [31:24] initial APIC id, [23:16] logical processors, [15:8] CLFLUSH
            // line size in 8-byte units (64 bytes).
            entry.ebx = (id << 24) | ((count & 0xff) << 16) | (8 << 8) | (entry.ebx & 0xff);
            if count > 1 {
                entry.edx |= EDX_HTT;
            } else {
                entry.edx &= !EDX_HTT;
            }
        }
        LEAF_CACHE_PARAMS => {
            // EAX[31:26]: cores per package - 1; [25:14]: threads sharing this cache - 1
            // (one thread per core: 0).
            entry.eax = (entry.eax & 0x3fff) | (((count - 1) & 0x3f) << 26);
        }
        LEAF_PERF_MON => {
            // No virtual PMU: a guest that finds none does not touch perf MSRs.
            (entry.eax, entry.ebx, entry.ecx, entry.edx) = (0, 0, 0, 0);
        }
        LEAF_TOPOLOGY | LEAF_TOPOLOGY_V2 => {
            entry.edx = id;
            match entry.index {
                0 => {
                    entry.eax = 0;
                    entry.ebx = 1;
                    entry.ecx = (LEVEL_TYPE_SMT << 8) | entry.index;
                }
                1 => {
                    entry.eax = core_shift;
                    entry.ebx = count;
                    entry.ecx = (LEVEL_TYPE_CORE << 8) | entry.index;
                }
                _ => {
                    (entry.eax, entry.ebx) = (0, 0);
                    entry.ecx = entry.index;
                }
            }
        }
        LEAF_EXT_FEATURES => {
            if count > 1 {
                entry.ecx |= ECX_CMP_LEGACY;
            } else {
                entry.ecx &= !ECX_CMP_LEGACY;
            }
        }
        LEAF_AMD_TOPOLOGY => {
            // EAX: extended APIC id; EBX[7:0]: core id, [15:8]: threads per core - 1 (0);
            // ECX: one node.
            entry.eax = id;
            entry.ebx = id & 0xff;
            entry.ecx = 0;
        }
        LEAF_EXT_ADDR_SIZES => {
            // ECX[7:0]: cores - 1; [15:12]: APIC id bits for cores.
            entry.ecx = (entry.ecx & !0xf0ff) | (core_shift << 12) | ((count - 1) & 0xff);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            ..Default::default()
        }
    }

    fn find(cpuid: &CpuId, function: u32, index: u32) -> kvm_cpuid_entry2 {
        *cpuid
            .as_slice()
            .iter()
            .find(|e| e.function == function && e.index == index)
            .unwrap()
    }

    fn sample() -> CpuId {
        let mut perf = leaf(LEAF_PERF_MON, 0);
        perf.eax = 0x0703_0802;
        let mut features = leaf(LEAF_FEATURES, 0);
        features.edx = EDX_HTT;
        CpuId::from_entries(&[
            leaf(0, 0),
            features,
            perf,
            leaf(LEAF_TOPOLOGY, 0),
            leaf(LEAF_TOPOLOGY, 1),
            leaf(LEAF_EXT_ADDR_SIZES, 0),
            leaf(LEAF_TOPOLOGY_V2, 1),
            leaf(LEAF_AMD_TOPOLOGY, 0),
        ])
        .unwrap()
    }

    #[test]
    fn each_vcpu_sees_its_apic_id_and_the_cpu_count() {
        let cpuid = filter_cpuid(&sample(), 3, 4, GuestCpu::default());
        let f = find(&cpuid, LEAF_FEATURES, 0);
        assert_eq!(f.ebx >> 24, 3);
        assert_eq!((f.ebx >> 16) & 0xff, 4);
        assert_ne!(f.ecx & ECX_HYPERVISOR, 0);
        assert_ne!(f.edx & EDX_HTT, 0);
        let core = find(&cpuid, LEAF_TOPOLOGY, 1);
        assert_eq!((core.eax, core.ebx, core.edx), (2, 4, 3));
        assert_eq!(core.ecx >> 8, LEVEL_TYPE_CORE);
        let smt = find(&cpuid, LEAF_TOPOLOGY, 0);
        assert_eq!((smt.ebx, smt.edx), (1, 3));
        assert_eq!(find(&cpuid, LEAF_EXT_ADDR_SIZES, 0).ecx & 0xff, 3);
        let v2 = find(&cpuid, LEAF_TOPOLOGY_V2, 1);
        assert_eq!((v2.eax, v2.ebx, v2.edx), (2, 4, 3));
        assert_eq!(find(&cpuid, LEAF_AMD_TOPOLOGY, 0).eax, 3);
    }

    #[test]
    fn single_vcpu_has_no_htt_and_no_pmu() {
        let cpuid = filter_cpuid(&sample(), 0, 1, GuestCpu::default());
        assert_eq!(find(&cpuid, LEAF_FEATURES, 0).edx & EDX_HTT, 0);
        assert_eq!(find(&cpuid, LEAF_PERF_MON, 0).eax, 0);
        assert_eq!(find(&cpuid, LEAF_TOPOLOGY, 1).eax, 0);
    }

    #[test]
    fn emulation_only_hides_unemulated_features() {
        let mut features = leaf(LEAF_FEATURES, 0);
        features.ecx = u32::MAX;
        let mut ext = leaf(LEAF_STRUCT_EXT, 0);
        (ext.ebx, ext.ecx, ext.edx) = (u32::MAX, u32::MAX, u32::MAX);
        let supported = CpuId::from_entries(&[features, ext, leaf(LEAF_STRUCT_EXT, 1)]).unwrap();
        let hide = GuestCpu {
            vendor: None,
            hide_unemulated: true,
        };
        let cpuid = filter_cpuid(&supported, 0, 1, hide);
        let f = find(&cpuid, LEAF_FEATURES, 0);
        assert_eq!(f.ecx & (1 << 13), 0, "cx16");
        assert_eq!(f.ecx & (1 << 26), 0, "xsave");
        assert_ne!(f.ecx & ECX_HYPERVISOR, 0);
        assert_ne!(f.ecx & 1, 0, "sse3 stays");
        let e = find(&cpuid, LEAF_STRUCT_EXT, 0);
        assert_eq!(e.ebx & (1 << 20), 0, "smap");
        assert_eq!(e.ecx & (1 << 3), 0, "pku");
        assert_eq!(e.edx & (1 << 4), 0, "fsrm");
        assert_ne!(e.ebx & (1 << 3), 0, "bmi1 stays");
        // Without the flag nothing is hidden.
        let kept = filter_cpuid(&supported, 0, 1, GuestCpu::default());
        assert_ne!(find(&kept, LEAF_FEATURES, 0).ecx & (1 << 13), 0);
    }

    #[test]
    fn vendor_override() {
        let cpuid = filter_cpuid(
            &sample(),
            0,
            1,
            GuestCpu {
                vendor: Some(CpuVendor::Intel),
                hide_unemulated: false,
            },
        );
        let v = find(&cpuid, 0, 0);
        let mut s = Vec::new();
        for r in [v.ebx, v.edx, v.ecx] {
            s.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(s, b"GenuineIntel");
    }
}
