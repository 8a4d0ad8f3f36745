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

#[cfg(test)]
mod tests {
    use super::*;

    fn vcpu(id: u8) -> VcpuState {
        VcpuState {
            id,
            cpuid: Vec::new(),
            msrs: Vec::new(),
            regs: kvm_bindings::kvm_regs {
                rip: 0x10_0000 + u64::from(id),
                ..Default::default()
            },
            sregs: Default::default(),
            xsave: Some(Default::default()),
            xcrs: None,
            debug_regs: Default::default(),
            lapic: Default::default(),
            mp_state: Default::default(),
            events: Default::default(),
        }
    }

    fn state(cpus: u8) -> SnapshotState {
        SnapshotState {
            layout: DeviceLayout {
                mem_mib: 128,
                cpus,
                devices: vec![DeviceKind::Block { read_only: true }],
            },
            vm: VmState {
                irqchips: Default::default(),
                pit: Default::default(),
                clock: kvm_bindings::kvm_clock_data {
                    clock: 123_456_789,
                    ..Default::default()
                },
            },
            vcpus: (0..cpus).map(vcpu).collect(),
            serial: SerialSnapshot {
                registers: [1, 2, 3, 4, 5, 6, 7, 8, 9],
                in_buffer: b"ls\n".to_vec(),
            },
            virtio: vec![TransportState {
                device_type: 2,
                status: 0xf,
                queue_select: 0,
                device_features_select: 1,
                driver_features_select: 1,
                acked_features: 1 << 32,
                interrupt_status: 1,
                config_generation: 0,
                queues: Vec::new(),
            }],
        }
    }

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hull-snapstate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_state_file_round_trips_every_part() {
        let dir = dir("roundtrip");
        let saved = state(2);
        std::fs::write(dir.join(STATE_FILE), format::encode(&saved).unwrap()).unwrap();
        let loaded = SnapshotState::load(&dir).unwrap();
        assert_eq!(loaded.layout, saved.layout);
        assert_eq!(loaded.serial, saved.serial);
        assert_eq!(loaded.virtio, saved.virtio);
        assert_eq!(loaded.vm.clock.clock, 123_456_789);
        assert_eq!(loaded.vcpus[1].regs.rip, 0x10_0001);
        assert!(loaded.vcpus[0].xsave.is_some() && loaded.vcpus[0].xcrs.is_none());
        // Byte for byte: nothing is lost or reordered.
        assert_eq!(
            format::encode(&loaded).unwrap(),
            format::encode(&saved).unwrap()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_whose_parts_disagree_or_that_are_damaged_are_refused() {
        let dir = dir("refused");
        let write = |state: &SnapshotState| {
            std::fs::write(dir.join(STATE_FILE), format::encode(state).unwrap()).unwrap()
        };
        let err = |dir: &Path| SnapshotState::load(dir).unwrap_err().to_string();
        let mut bad = state(2);
        bad.vcpus.pop();
        write(&bad);
        assert!(
            err(&dir).contains("1 vCPU states for 2 vCPUs"),
            "{}",
            err(&dir)
        );
        let mut bad = state(2);
        bad.vcpus[1].id = 7;
        write(&bad);
        assert!(err(&dir).contains("vCPU state 1 is for vCPU 7"));
        let mut bad = state(1);
        bad.virtio.clear();
        write(&bad);
        assert!(err(&dir).contains("0 virtio device states for 1 devices"));
        let file = format::encode(&state(1)).unwrap();
        std::fs::write(dir.join(STATE_FILE), &file[..file.len() / 2]).unwrap();
        let e = SnapshotState::load(&dir).unwrap_err();
        assert!(matches!(e, SnapshotError::Format { .. }), "{e}");
        assert!(crate::error_chain(&e).contains("truncated"), "{e}");
        std::fs::remove_file(dir.join(STATE_FILE)).unwrap();
        assert!(err(&dir).contains("cannot read the snapshot state file"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
