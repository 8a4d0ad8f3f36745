//! Docker's memory flags for a container that is a VM: `-m` is the container's limit (its
//! cgroup's memory.max in the guest, as with Docker), and the VM is sized from it plus what
//! the guest itself needs ([`vm_mem_mib`]).
//!
//! * `-m/--memory`: the limit. The VM gets `limit + limit/64 + GUEST_OWN_MIB`.
//! * no `-m`: no limit, as Docker; the VM gets [`DEFAULT_VM_MIB`] and the container may use
//!   everything the guest kernel does not (~200 MiB). `inspect` shows `Memory: 0`.
//! * `--memory-swap`: the guest has no swap device, so memory+swap is the memory limit
//!   whatever is asked; Docker's checks apply (-1 or >= `-m`, and only with `-m`), and
//!   `inspect` shows the value asked (the limit itself when none: no swap).
//! * `--memory-reservation`: the soft limit, cgroup v2 memory.low in the guest (runc's
//!   mapping); it must be below `-m`.
//! * `--oom-kill-disable`: accepted and ignored with a warning, as Docker does on cgroup v2
//!   (there is no v2 equivalent); a container at its limit gets its process OOM-killed.

use super::run::parse_size;
use anyhow::{bail, Result};

/// What the guest needs besides the container's memory, measured (issue 22) with an idle
/// busybox container: the kernel reserves ~10 MiB at 128 MiB (image, page tables), slab
/// ~20 MiB, hull-init's initramfs and the rest ~4 MiB; the remainder is headroom so the
/// guest's own allocations never push the container's page cache out. `struct page` costs
/// a further 1/64 of the memory (64 bytes per 4 KiB page).
pub const GUEST_OWN_MIB: u64 = 48;
/// The VM's memory when no `-m` is given.
pub const DEFAULT_VM_MIB: u64 = 256;

/// The memory flags of `hull run` / `hull create`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MemoryArgs {
    /// Memory limit (e.g. 64m, 1g): the container's limit; the VM gets this plus what the
    /// guest kernel needs.
    #[arg(short = 'm', long = "memory", value_parser = parse_size)]
    pub limit: Option<u64>,
    /// Memory + swap limit (-1: unlimited). The VM has no swap: the limit is -m's.
    #[arg(long, value_parser = parse_swap, allow_negative_numbers = true)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit (cgroup memory.low in the guest).
    #[arg(long, value_parser = parse_size)]
    pub memory_reservation: Option<u64>,
    /// Accepted and ignored, as Docker does on cgroup v2.
    #[arg(long)]
    pub oom_kill_disable: bool,
}

fn parse_swap(text: &str) -> Result<i64, String> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    i64::try_from(parse_size(text)?).map_err(|_| "size too large".to_string())
}

impl MemoryArgs {
    /// Docker's consistency checks; warnings for what a VM ignores.
    pub fn validate(&self) -> Result<()> {
        if let Some(swap) = self.memory_swap.filter(|s| *s != -1) {
            let Some(limit) = self.limit else {
                bail!(
                    "you should always set the memory limit when using memoryswap limit, see usage"
                );
            };
            if u64::try_from(swap).unwrap_or(0) < limit {
                bail!("minimum memoryswap limit should be larger than memory limit, see usage");
            }
        }
        if let (Some(limit), Some(reservation)) = (self.limit, self.memory_reservation) {
            if reservation > limit {
                bail!(
                    "minimum memory limit can not be less than memory reservation limit, see usage"
                );
            }
        }
        if self.oom_kill_disable {
            eprintln!("WARNING: --oom-kill-disable is ignored: the guest's cgroup v2 has no such setting (Docker ignores it on cgroup v2 too)");
        }
        Ok(())
    }

    /// The limit as the OCI spec wants it.
    pub fn limit_bytes(&self) -> Result<Option<i64>> {
        self.limit
            .map(|m| i64::try_from(m).map_err(|_| anyhow::anyhow!("memory limit too large")))
            .transpose()
    }

    /// `HostConfig.MemorySwap`: what was asked, else the limit (no swap), 0 without `-m`.
    pub fn reported_swap(&self) -> i64 {
        match (self.memory_swap, self.limit) {
            (Some(swap), _) => swap,
            (None, Some(limit)) => i64::try_from(limit).unwrap_or(i64::MAX),
            (None, None) => 0,
        }
    }
}

/// The VM's memory in MiB for a container limit in bytes (`None`: no limit).
pub fn vm_mem_mib(limit: Option<u64>) -> u64 {
    match limit {
        None => DEFAULT_VM_MIB,
        Some(bytes) => {
            let mib = bytes.div_ceil(1 << 20);
            mib + mib.div_ceil(64) + GUEST_OWN_MIB
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_size_is_the_limit_plus_the_guest() {
        assert_eq!(vm_mem_mib(None), DEFAULT_VM_MIB);
        assert_eq!(vm_mem_mib(Some(64 << 20)), 64 + 1 + GUEST_OWN_MIB);
        assert_eq!(vm_mem_mib(Some(1 << 30)), 1024 + 16 + GUEST_OWN_MIB);
        assert_eq!(vm_mem_mib(Some(6 << 20)), 6 + 1 + GUEST_OWN_MIB);
        assert_eq!(vm_mem_mib(Some((64 << 20) + 1)), 65 + 2 + GUEST_OWN_MIB);
    }

    #[test]
    fn docker_checks() {
        let args = |limit: Option<u64>, swap: Option<i64>, reservation: Option<u64>| MemoryArgs {
            limit,
            memory_swap: swap,
            memory_reservation: reservation,
            oom_kill_disable: false,
        };
        assert!(args(Some(64 << 20), Some(128 << 20), None)
            .validate()
            .is_ok());
        assert!(args(Some(64 << 20), Some(-1), None).validate().is_ok());
        assert!(args(None, Some(-1), None).validate().is_ok());
        assert!(args(Some(64 << 20), Some(32 << 20), None)
            .validate()
            .is_err());
        assert!(args(None, Some(64 << 20), None).validate().is_err());
        assert!(args(Some(64 << 20), None, Some(128 << 20))
            .validate()
            .is_err());
        assert!(args(Some(64 << 20), None, Some(32 << 20))
            .validate()
            .is_ok());
        assert_eq!(args(Some(64 << 20), None, None).reported_swap(), 64 << 20);
        assert_eq!(args(Some(64 << 20), Some(-1), None).reported_swap(), -1);
        assert_eq!(args(None, None, None).reported_swap(), 0);
        assert_eq!(parse_swap("-1"), Ok(-1));
        assert_eq!(parse_swap("1g"), Ok(1 << 30));
    }
}
