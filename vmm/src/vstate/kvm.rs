//! The `/dev/kvm` system handle: capability checks and the host's supported CPUID.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::Cap;

use super::vm::{Vm, VmError};

/// The KVM device node.
pub const KVM_DEVICE: &str = "/dev/kvm";

/// Capabilities hull-vmm cannot run without.
const REQUIRED_CAPS: &[(Cap, &str)] = &[
    (Cap::Irqchip, "KVM_CAP_IRQCHIP"),
    (Cap::Ioeventfd, "KVM_CAP_IOEVENTFD"),
    (Cap::Irqfd, "KVM_CAP_IRQFD"),
    (Cap::UserMemory, "KVM_CAP_USER_MEMORY"),
    (Cap::SetTssAddr, "KVM_CAP_SET_TSS_ADDR"),
    (Cap::Pit2, "KVM_CAP_PIT2"),
    (Cap::ExtCpuid, "KVM_CAP_EXT_CPUID"),
];

/// Errors opening or querying `/dev/kvm`.
#[derive(Debug, thiserror::Error)]
pub enum KvmError {
    /// `/dev/kvm` could not be opened.
    #[error(
        "cannot open the KVM device ({0}): load the kvm module (kvm_intel/kvm_amd) and make sure \
         this user may read and write /dev/kvm"
    )]
    Open(#[source] kvm_ioctls::Error),
    /// The kernel's KVM API version is not the stable one (12).
    #[error("KVM API version is {0}, hull-vmm needs 12: use a newer host kernel")]
    ApiVersion(i32),
    /// A capability hull-vmm relies on is missing.
    #[error("KVM lacks {0}, which hull-vmm needs: use a host kernel with full x86 KVM support")]
    MissingCap(&'static str),
    /// KVM_GET_SUPPORTED_CPUID failed.
    #[error("cannot read KVM's supported CPUID")]
    SupportedCpuid(#[source] kvm_ioctls::Error),
    /// KVM_GET_MSR_INDEX_LIST failed.
    #[error("cannot read KVM's list of saveable MSRs")]
    MsrIndexList(#[source] kvm_ioctls::Error),
    /// KVM_CREATE_VM failed.
    #[error("cannot create a KVM virtual machine")]
    CreateVm(#[source] VmError),
}

/// An open `/dev/kvm`.
pub struct Kvm {
    kvm: kvm_ioctls::Kvm,
}

impl Kvm {
    /// Opens `/dev/kvm` and checks the capabilities hull-vmm needs.
    pub fn open() -> Result<Self, KvmError> {
        Self::open_path(Path::new(KVM_DEVICE))
    }

    /// Opens the KVM device at `path` (tests point this at a missing file).
    pub fn open_path(path: &Path) -> Result<Self, KvmError> {
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| KvmError::Open(kvm_ioctls::Error::new(libc::EINVAL)))?;
        let kvm = kvm_ioctls::Kvm::new_with_path(path).map_err(KvmError::Open)?;
        let version = kvm.get_api_version();
        if i64::from(version) != i64::from(kvm_bindings::KVM_API_VERSION) {
            return Err(KvmError::ApiVersion(version));
        }
        for (cap, name) in REQUIRED_CAPS {
            if !kvm.check_extension(*cap) {
                return Err(KvmError::MissingCap(name));
            }
        }
        Ok(Self { kvm })
    }

    /// The CPUID leaves this host's KVM can give a guest (before hull's filtering).
    pub fn supported_cpuid(&self) -> Result<CpuId, KvmError> {
        self.kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(KvmError::SupportedCpuid)
    }

    /// The MSRs KVM saves and restores for a vCPU (KVM_GET_MSR_INDEX_LIST), as Firecracker
    /// snapshots them.
    pub fn msr_index_list(&self) -> Result<Vec<u32>, KvmError> {
        self.kvm
            .get_msr_index_list()
            .map(|list| list.as_slice().to_vec())
            .map_err(KvmError::MsrIndexList)
    }

    /// The largest number of vCPUs KVM recommends for one VM.
    pub fn max_vcpus(&self) -> usize {
        self.kvm.get_nr_vcpus()
    }

    /// Creates an empty VM (no memory, no vCPUs yet).
    pub fn create_vm(&self) -> Result<Vm, KvmError> {
        let fd = self
            .kvm
            .create_vm()
            .map_err(|e| KvmError::CreateVm(VmError::Create(e)))?;
        Vm::new(fd).map_err(KvmError::CreateVm)
    }
}
