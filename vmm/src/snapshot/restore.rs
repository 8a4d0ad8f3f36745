//! Restoring a snapshot into a VM that `builder::build_vm` builds from the restoring
//! config: the same devices in the same slots, with this config's backends. The builder
//! calls these steps in place of loading a kernel and setting up boot registers.

use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use super::save::SharedTransport;
use super::{memory, SnapshotError, SnapshotState, MEMORY_FILE};
use crate::config::VmConfig;
use crate::devices::legacy::serial::{SerialDevice, SerialSnapshot};
use crate::devices::legacy::EventFdTrigger;
use crate::memory::GuestMemory;
use crate::vstate::{Vcpu, Vm};

/// A loaded, checked snapshot to restore.
pub struct Restore {
    dir: PathBuf,
    state: SnapshotState,
}

impl Restore {
    /// Loads `dir`'s state file and checks that `config` describes the same machine.
    pub fn load(dir: &Path, config: &VmConfig) -> Result<Self, SnapshotError> {
        let state = SnapshotState::load(dir)?;
        state.layout.check(config)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            state,
        })
    }

    /// Guest RAM, mapped copy-on-write from the memory file.
    pub fn map_memory(&self) -> Result<GuestMemory, SnapshotError> {
        let size = u64::from(self.state.layout.mem_mib) << 20;
        Ok(memory::map_memory_file(&self.dir.join(MEMORY_FILE), size)?)
    }

    /// COM1 as it was, writing to `out`.
    pub fn serial(
        &self,
        interrupt: EventFdTrigger,
        out: Box<dyn std::io::Write + Send>,
    ) -> Result<SerialDevice, SnapshotError> {
        let saved: &SerialSnapshot = &self.state.serial;
        SerialDevice::from_snapshot(saved, interrupt, out).ok_or_else(|| {
            self.inconsistent(format!(
                "COM1 holds {} input bytes, more than its FIFO",
                saved.in_buffer.len()
            ))
        })
    }

    /// Puts every virtio transport (in slot order, as attached) where it was; live devices
    /// start serving their queues with this config's backends.
    pub fn restore_devices(&self, transports: &[SharedTransport]) -> Result<(), SnapshotError> {
        if transports.len() != self.state.virtio.len() {
            return Err(self.inconsistent(format!(
                "{} virtio devices saved, {} attached",
                self.state.virtio.len(),
                transports.len()
            )));
        }
        for (index, (transport, saved)) in transports.iter().zip(&self.state.virtio).enumerate() {
            transport
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .restore_state(saved)
                .map_err(|e| self.inconsistent(format!("virtio device {index}: {e}")))?;
        }
        Ok(())
    }

    /// Writes vCPU `vcpu`'s saved state into it.
    pub fn restore_vcpu(&self, vcpu: &Vcpu) -> Result<(), SnapshotError> {
        let saved = self
            .state
            .vcpus
            .get(usize::from(vcpu.id()))
            .ok_or_else(|| self.inconsistent(format!("no state for vCPU {}", vcpu.id())))?;
        vcpu.restore_state(saved).map_err(|e| {
            SnapshotError::Restore(format!("vCPU {}: {}", vcpu.id(), crate::error_chain(&e)))
        })
    }

    /// Writes the irqchip, PIT and clock into `vm`.
    pub fn restore_vm(&self, vm: &Vm) -> Result<(), SnapshotError> {
        vm.restore_state(&self.state.vm)
            .map_err(|e| SnapshotError::Restore(crate::error_chain(&e)))
    }

    fn inconsistent(&self, why: String) -> SnapshotError {
        SnapshotError::Inconsistent {
            path: self.dir.clone(),
            why,
        }
    }
}
