//! `top`: the running container's processes, listed by hull-init from the guest's /proc
//! (see `supervisor::top`).

use super::Containers;
use crate::error::{Error, Result};
use crate::supervisor::control;
use crate::supervisor::top::{TopAnswer, TopReply, TOP_TIMEOUT};
use crate::supervisor::wire::Request;
use anyhow::Context;
use std::time::Duration;

impl Containers {
    /// The processes of the running container `reference` names (Docker's `top`).
    pub fn top(&self, reference: &str) -> Result<TopAnswer> {
        let container = self.find_running(reference, |c| Error::NotRunning(c.id.clone()))?;
        if container.is_paused() {
            return Err(Error::Paused(container.id, "top"));
        }
        let socket = self.store.paths(&container.id).control_socket();
        let line =
            control::request_reply(&socket, &Request::Top, TOP_TIMEOUT + Duration::from_secs(5))?;
        let reply: TopReply = serde_json::from_str(line.trim())
            .context("the container's supervisor answered top with garbage")?;
        Ok(reply.map_err(anyhow::Error::msg)?)
    }
}
