//! Snapshot and restore (issue #19, warm start): a running VM saved into a directory, and a
//! new hull-vmm process started from it instead of booting a kernel.
//!
//! A snapshot directory holds two files:
//!
//! * `state`: vCPUs (registers, sregs, XSAVE, XCRs, debug registers, LAPIC, MSRs from
//!   KVM_GET_MSR_INDEX_LIST, CPUID, events, MP state), the VM (PIC, IOAPIC, PIT, kvmclock),
//!   COM1, every virtio-mmio transport with its queues, and the device layout; versioned
//!   and checksummed (`format.rs`).
//! * `memory`: guest RAM, sparse, mapped copy-on-write on restore (`memory.rs`).
//!
//! Saving writes `memory` and then `state`, each to a temporary name renamed into place,
//! after removing any old `state`: `state` is the commit mark, so a directory with a
//! `state` file always has the `memory` that belongs to it, and a crash mid-save leaves no
//! valid snapshot rather than a mixed one. The memory file is never written in place, so
//! VMs restored from an older snapshot keep their (unlinked) file.
//!
//! What is not saved: the host side of devices (disk files, console sockets, taps, serial
//! output), which the restoring `VmConfig` gives anew; a disk's size comes from its new file.

pub mod format;
pub mod layout;
pub mod memory;
pub mod restore;
pub mod save;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::devices::legacy::serial::SerialSnapshot;
use crate::devices::virtio::persist::TransportState;
use crate::vstate::{VcpuState, VmState};

pub use layout::{DeviceKind, DeviceLayout, LayoutError};
pub use restore::Restore;
pub use save::{SharedTransport, VmSnapshotter};

/// The state file's name in a snapshot directory.
pub const STATE_FILE: &str = "state";
/// The memory file's name in a snapshot directory.
pub const MEMORY_FILE: &str = "memory";

/// Everything but guest RAM.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotState {
    /// RAM, vCPUs and device slots; a restoring config must match it.
    pub layout: DeviceLayout,
    /// Irqchip, PIT, clock.
    pub vm: VmState,
    /// One per vCPU, in id order.
    pub vcpus: Vec<VcpuState>,
    /// COM1.
    pub serial: SerialSnapshot,
    /// One per virtio slot, in slot order.
    pub virtio: Vec<TransportState>,
}

/// Errors saving or loading a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file of the snapshot could not be read, written or renamed.
    #[error("cannot {op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The state file is truncated, corrupt or of another version.
    #[error("invalid snapshot state file {path}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: format::FormatError,
    },
    /// The state file's parts disagree with each other.
    #[error("inconsistent snapshot {path}: {why}")]
    Inconsistent {
        /// The state file.
        path: PathBuf,
        /// What disagrees.
        why: String,
    },
    /// The config does not describe the snapshot's machine, or cannot be snapshotted.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The memory file could not be written or mapped.
    #[error(transparent)]
    Memory(#[from] memory::MemoryFileError),
    /// Reading KVM or device state failed.
    #[error("cannot read the VM's state: {0}")]
    Save(String),
    /// Writing saved state into KVM failed.
    #[error("cannot restore the VM's state: {0}")]
    Restore(String),
    /// The vCPUs could not be paused for the save.
    #[error("cannot pause the VM for the snapshot: {0}")]
    Pause(String),
}

impl SnapshotState {
    /// Reads and checks `dir/state`: header, checksum, and that its parts agree.
    pub fn load(dir: &Path) -> Result<Self, SnapshotError> {
        let path = dir.join(STATE_FILE);
        let bytes = std::fs::read(&path).map_err(|source| SnapshotError::Io {
            op: "read the snapshot state file",
            path: path.clone(),
            source,
        })?;
        let state: Self = format::decode(&bytes).map_err(|source| SnapshotError::Format {
            path: path.clone(),
            source,
        })?;
        state
            .check_consistent()
            .map_err(|why| SnapshotError::Inconsistent {
                path: path.clone(),
                why,
            })?;
        Ok(state)
    }

    /// The state file is checksummed, but a valid file can still be hostile: counts must
    /// agree before anything indexes by them.
    fn check_consistent(&self) -> Result<(), String> {
        if self.vcpus.len() != usize::from(self.layout.cpus) {
            return Err(format!(
                "{} vCPU states for {} vCPUs",
                self.vcpus.len(),
                self.layout.cpus
            ));
        }
        if let Some((index, vcpu)) = (0u8..)
            .zip(&self.vcpus)
            .find(|(index, vcpu)| vcpu.id != *index)
        {
            return Err(format!("vCPU state {index} is for vCPU {}", vcpu.id));
        }
        if self.virtio.len() != self.layout.devices.len() {
            return Err(format!(
                "{} virtio device states for {} devices",
                self.virtio.len(),
                self.layout.devices.len()
            ));
        }
        Ok(())
    }
}
