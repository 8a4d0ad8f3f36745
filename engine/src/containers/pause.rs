//! `pause` and `unpause`: a paused container's VM has its vCPUs stopped (QMP `stop`/`cont`
//! to its VMM, QEMU or hull-vmm); its processes, memory and devices stay as they are. It
//! still counts as running (Docker's `State.Running` stays true); `exec`, `attach` and `top`
//! are refused until it is unpaused, `stop` and `kill` unpause it first.

use super::Containers;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::vm::qmp;

impl Containers {
    /// Stops the vCPUs of the running container `reference` names (Docker's `pause`).
    pub fn pause(&self, reference: &str) -> Result<Container> {
        let container = self.find_running(reference, |c| Error::NotRunning(c.id.clone()))?;
        if container.is_paused() {
            return Err(Error::AlreadyPaused(container.id));
        }
        qmp::pause(&self.vmm_socket(&container)).map_err(anyhow::Error::from)?;
        self.store.update(&container.id, |c| c.state.paused = true)
    }

    /// Resumes the vCPUs of the paused container `reference` names (Docker's `unpause`).
    pub fn unpause(&self, reference: &str) -> Result<Container> {
        let container = self.find_running(reference, |c| Error::NotPaused(c.id.clone()))?;
        if !container.is_paused() {
            return Err(Error::NotPaused(container.id));
        }
        self.resume(&container)?;
        self.find(&container.id)
    }

    /// Resumes a paused `container`'s vCPUs and records it (before `stop` and `kill`, whose
    /// signals a paused guest could not take).
    pub(super) fn resume(&self, container: &Container) -> Result<()> {
        qmp::resume(&self.vmm_socket(container)).map_err(anyhow::Error::from)?;
        self.store
            .update(&container.id, |c| c.state.paused = false)?;
        Ok(())
    }

    fn vmm_socket(&self, container: &Container) -> std::path::PathBuf {
        qmp::qmp_socket(&self.store.paths(&container.id).socket_dir())
    }
}
