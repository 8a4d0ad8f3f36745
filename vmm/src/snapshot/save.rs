//! Taking a snapshot of a running VM (the control socket's `x-hull-snapshot`): the handles
//! it reads, and the write-then-rename sequence into the snapshot directory.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::layout::{DeviceLayout, LayoutError};
use super::{format, memory, SnapshotError, SnapshotState, MEMORY_FILE, STATE_FILE};
use crate::devices::legacy::serial::SerialDevice;
use crate::devices::virtio::persist::TransportPersist;
use crate::memory::GuestMemory;
use crate::runtime::vcpu_runner::lock_vcpu;
use crate::vstate::{Vcpu, Vm};

/// A virtio transport as the snapshot reads it.
pub type SharedTransport = Arc<Mutex<dyn TransportPersist>>;

/// What a snapshot reads: every piece of VM state, shared with the running VM.
pub struct VmSnapshotter {
    /// The layout, or why this VM cannot be snapshotted (virtio-fs).
    pub layout: Result<DeviceLayout, LayoutError>,
    /// The VM.
    pub vm: Arc<Vm>,
    /// Guest RAM.
    pub memory: Arc<GuestMemory>,
    /// Every vCPU, in id order.
    pub vcpus: Vec<Arc<Mutex<Vcpu>>>,
    /// The MSRs to save (KVM_GET_MSR_INDEX_LIST).
    pub msr_indices: Vec<u32>,
    /// COM1.
    pub serial: Arc<Mutex<SerialDevice>>,
    /// The virtio transports in slot order.
    pub transports: Vec<SharedTransport>,
}

/// What a save wrote and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct SaveSummary {
    /// Bytes of the state file.
    pub state_bytes: usize,
    /// Milliseconds for the whole save.
    pub millis: u128,
}

fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl VmSnapshotter {
    /// Reads the VM's state and writes the snapshot into `dir` (created if missing). The
    /// caller has paused the vCPUs and the event loop.
    pub fn save(&self, dir: &Path) -> Result<SaveSummary, SnapshotError> {
        let start = Instant::now();
        let state = self.read_state()?;
        let bytes = format::encode(&state).map_err(|e| SnapshotError::Save(e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(io_err("create the snapshot directory", dir))?;
        let state_path = dir.join(STATE_FILE);
        // The old commit mark goes first: from here until the new one is in place, the
        // directory is no snapshot at all, never an old state with a new memory file.
        match std::fs::remove_file(&state_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("remove the old state file", &state_path)(e))
            }
            _ => {}
        }
        let pid = std::process::id();
        let memory_tmp = dir.join(format!(".{MEMORY_FILE}.{pid}.tmp"));
        let _ = std::fs::remove_file(&memory_tmp);
        let written = memory::write_memory_file(&self.memory, &memory_tmp);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&memory_tmp);
            return Err(e.into());
        }
        let memory_path = dir.join(MEMORY_FILE);
        std::fs::rename(&memory_tmp, &memory_path)
            .map_err(io_err("rename the memory file into", &memory_path))?;
        let state_tmp = dir.join(format!(".{STATE_FILE}.{pid}.tmp"));
        write_synced(&state_tmp, &bytes)?;
        std::fs::rename(&state_tmp, &state_path)
            .map_err(io_err("rename the state file into", &state_path))?;
        // The renames are durable only once the directory is.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync the snapshot directory", dir))?;
        Ok(SaveSummary {
            state_bytes: bytes.len(),
            millis: start.elapsed().as_millis(),
        })
    }

    /// Everything but RAM, read from KVM and the devices.
    fn read_state(&self) -> Result<SnapshotState, SnapshotError> {
        let layout = self.layout.clone()?;
        let vm = self
            .vm
            .save_state()
            .map_err(|e| SnapshotError::Save(crate::error_chain(&e)))?;
        let vcpus = self
            .vcpus
            .iter()
            .map(|vcpu| lock_vcpu(vcpu).save_state(&self.msr_indices))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SnapshotError::Save(crate::error_chain(&e)))?;
        let serial = self
            .serial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot();
        let virtio = self
            .transports
            .iter()
            .map(|t| {
                t.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .save_state()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SnapshotError::Save(e.to_string()))?;
        Ok(SnapshotState {
            layout,
            vm,
            vcpus,
            serial,
            virtio,
        })
    }
}

/// Writes `bytes` to a new file at `path` and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    let _ = std::fs::remove_file(path);
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create", path))?;
    file.write_all(bytes).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("sync", path))
}
