//! Docker's memory settings for a container that is a VM: `-m` is the container's limit (its
//! cgroup's memory.max in the guest, as with Docker), and the VM is sized from it plus what
//! the guest itself needs ([`MemoryRequest::vm_mem_mib`]).
//!
//! * `-m/--memory`: the limit. The VM gets `limit + limit/64 + GUEST_OWN_MIB`.
//! * no `-m`: no limit, as Docker; the VM gets [`DEFAULT_VM_MIB`] and the container may use
//!   everything the guest kernel does not (~200 MiB). `inspect` shows `Memory: 0`.
//! * `--memory-swap`: the guest has no swap device, so memory+swap is the memory limit
//!   whatever is asked; Docker's checks apply (-1 or >= `-m`, and only with `-m`), and
//!   `inspect` shows the value asked (the limit itself when none: no swap).
//! * `--memory-reservation`: the soft limit, cgroup v2 memory.low in the guest (runc's
//!   mapping); it must be below `-m`.
//! * `--oom-kill-disable`: accepted and ignored (front-ends warn), as Docker does on cgroup
//!   v2 (there is no v2 equivalent); a container at its limit gets its process OOM-killed.

use crate::error::{Error, Result};

/// What the guest needs besides the container's memory, measured (issue 22) with an idle
/// busybox container: the kernel reserves ~10 MiB at 128 MiB (image, page tables), slab
/// ~20 MiB, hull-init's initramfs and the rest ~4 MiB; the remainder is headroom so the
/// guest's own allocations never push the container's page cache out. `struct page` costs
/// a further 1/64 of the memory (64 bytes per 4 KiB page).
pub const GUEST_OWN_MIB: u64 = 48;
/// The VM's memory when no `-m` is given.
pub const DEFAULT_VM_MIB: u64 = 256;

/// A container's memory flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryRequest {
    /// `-m`: the limit in bytes.
    pub limit: Option<u64>,
    /// `--memory-swap` in bytes, -1 for unlimited.
    pub swap: Option<i64>,
    /// `--memory-reservation` in bytes.
    pub reservation: Option<u64>,
    /// `--oom-kill-disable` (ignored, as on cgroup v2).
    pub oom_kill_disable: bool,
}

impl MemoryRequest {
    /// Docker's consistency checks, with Docker's messages.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: &str| Err(Error::InvalidArgument(message.to_string()));
        if let Some(swap) = self.swap.filter(|s| *s != -1) {
            let Some(limit) = self.limit else {
                return invalid(
                    "you should always set the memory limit when using memoryswap limit, see usage",
                );
            };
            if u64::try_from(swap).unwrap_or(0) < limit {
                return invalid(
                    "minimum memoryswap limit should be larger than memory limit, see usage",
                );
            }
        }
        if let (Some(limit), Some(reservation)) = (self.limit, self.reservation) {
            if reservation > limit {
                return invalid(
                    "minimum memory limit can not be less than memory reservation limit, see usage",
                );
            }
        }
        Ok(())
    }

    /// The limit as the OCI spec wants it.
    pub fn limit_bytes(&self) -> Result<Option<i64>> {
        self.limit
            .map(|m| {
                i64::try_from(m)
                    .map_err(|_| Error::InvalidArgument("memory limit too large".into()))
            })
            .transpose()
    }

    /// `HostConfig.MemorySwap`: what was asked, else the limit (no swap), 0 without `-m`.
    pub fn reported_swap(&self) -> i64 {
        match (self.swap, self.limit) {
            (Some(swap), _) => swap,
            (None, Some(limit)) => i64::try_from(limit).unwrap_or(i64::MAX),
            (None, None) => 0,
        }
    }

    /// The VM's memory in MiB.
    pub fn vm_mem_mib(&self) -> u64 {
        match self.limit {
            None => DEFAULT_VM_MIB,
            Some(bytes) => {
                let mib = bytes.div_ceil(1 << 20);
                mib + mib.div_ceil(64) + GUEST_OWN_MIB
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(limit: Option<u64>, swap: Option<i64>, reservation: Option<u64>) -> MemoryRequest {
        MemoryRequest {
            limit,
            swap,
            reservation,
            oom_kill_disable: false,
        }
    }

    #[test]
    fn vm_size_is_the_limit_plus_the_guest() {
        let vm = |limit| request(limit, None, None).vm_mem_mib();
        assert_eq!(vm(None), DEFAULT_VM_MIB);
        assert_eq!(vm(Some(64 << 20)), 64 + 1 + GUEST_OWN_MIB);
        assert_eq!(vm(Some(1 << 30)), 1024 + 16 + GUEST_OWN_MIB);
        assert_eq!(vm(Some(6 << 20)), 6 + 1 + GUEST_OWN_MIB);
        assert_eq!(vm(Some((64 << 20) + 1)), 65 + 2 + GUEST_OWN_MIB);
    }

    #[test]
    fn docker_checks() {
        assert!(request(Some(64 << 20), Some(128 << 20), None)
            .validate()
            .is_ok());
        assert!(request(Some(64 << 20), Some(-1), None).validate().is_ok());
        assert!(request(None, Some(-1), None).validate().is_ok());
        assert!(request(Some(64 << 20), Some(32 << 20), None)
            .validate()
            .is_err());
        assert!(request(None, Some(64 << 20), None).validate().is_err());
        assert!(request(Some(64 << 20), None, Some(128 << 20))
            .validate()
            .is_err());
        assert!(request(Some(64 << 20), None, Some(32 << 20))
            .validate()
            .is_ok());
        assert_eq!(
            request(Some(64 << 20), None, None).reported_swap(),
            64 << 20
        );
        assert_eq!(request(Some(64 << 20), Some(-1), None).reported_swap(), -1);
        assert_eq!(request(None, None, None).reported_swap(), 0);
    }
}
