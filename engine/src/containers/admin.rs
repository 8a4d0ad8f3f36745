//! `rename`, `restart` and `container prune`: verbs made of the store and the lifecycle.

use std::time::Duration;

use super::Containers;
use crate::container::Container;
use crate::error::Result;

impl Containers {
    /// Gives the container `reference` names a new name (Docker's `rename`).
    pub fn rename(&self, reference: &str, name: &str) -> Result<Container> {
        let container = self.find(reference)?;
        self.store.rename(&container.id, name)
    }

    /// Stops the container (SIGTERM, `grace`, SIGKILL) if it runs, then starts it again in
    /// the background with its writable layer intact (Docker's `restart`).
    pub fn restart(&self, reference: &str, grace: Option<Duration>) -> Result<Container> {
        let container = self.find(reference)?;
        self.stop(&container.id, grace)?;
        let stopped = self.find(&container.id)?;
        self.start_detached(&stopped)?;
        let restarted = self.find(&container.id)?;
        self.store.record_event("restart", &restarted, &[]);
        Ok(restarted)
    }

    /// Removes every container that is not running (Docker's `container prune`); the ids
    /// removed.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for container in self.list(true)? {
            if !container.is_running() {
                self.store.remove(&container.id)?;
                removed.push(container.id);
            }
        }
        Ok(removed)
    }
}
