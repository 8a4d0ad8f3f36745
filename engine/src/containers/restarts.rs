//! `--restart` in the container's supervisor. There is no daemon: the shim that supervises
//! a detached container boots its VM again when its policy says so, after Docker's
//! back-off, showing it as `Restarting` meanwhile. A user's `stop`, `kill` or `rm -f` ends
//! that (`stopped_by_user`); a user's start begins a new count. Once the shim is gone (a
//! host reboot), nothing restarts the container until a user starts it again.

use super::Containers;
use crate::container::liveness::ProcessRef;
use crate::container::restart::Backoff;
use crate::container::{Container, Status};
use crate::error::Result;
use crate::supervisor::Io;
use std::time::{Duration, Instant};

/// How often a supervisor waiting to restart looks for a user's stop.
const POLL: Duration = Duration::from_millis(50);
/// How long a user's stop waits for a supervisor to leave `Restarting`.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a user's start resets: the restart count, and a user's earlier stop.
pub(super) fn started_by_user(container: &mut Container) {
    container.state.restart_count = 0;
    container.state.stopped_by_user = false;
}

/// How the wait before a restart ended.
enum AfterWait {
    /// Boot it again.
    Restart(Container),
    /// A user stopped it meanwhile: it stays exited.
    Stopped(Container),
    /// A user removed it meanwhile.
    Removed,
}

impl Containers {
    /// Supervises `container` until its VM ends, then boots it again while its restart
    /// policy says so; its final state (None: removed while it waited to be restarted).
    pub(super) fn supervise_restarting(
        &self,
        mut container: Container,
        mut io: Io,
    ) -> Result<Option<Container>> {
        let mut backoff = Backoff::default();
        loop {
            let started = Instant::now();
            let done = self.supervise(&container, io)?;
            let state = &done.state;
            let restart = done.config.restart_policy.should_restart(
                state.exit_code,
                state.restart_count,
                state.stopped_by_user,
            );
            if !restart {
                return Ok(Some(done));
            }
            let delay = backoff.next(started.elapsed());
            tracing::debug!(id = %done.id, ?delay, "restarting by policy");
            let waiting = self.store.update(&done.id, |c| {
                c.state.status = Status::Restarting;
                c.state.restart_count += 1;
                // `reconcile` knows a restarting container by its live supervisor.
                c.state.supervisor = ProcessRef::of(std::process::id());
            });
            if waiting.is_err() {
                // Removed between its exit and now.
                return Ok(None);
            }
            match self.wait_to_restart(&done.id, delay)? {
                AfterWait::Restart(next) => container = next,
                AfterWait::Stopped(stopped) => return Ok(Some(stopped)),
                AfterWait::Removed => return Ok(None),
            }
            // Its first client (run -it) had the output from the first byte; later runs
            // are attached to like any running container.
            io = Io::Detached;
        }
    }

    /// Waits `delay`, unless a user stops or removes the container meanwhile.
    fn wait_to_restart(&self, id: &str, delay: Duration) -> Result<AfterWait> {
        let deadline = Instant::now() + delay;
        loop {
            let paths = self.store.paths(id);
            let checked = self.store.update(id, |c| {
                if c.state.stopped_by_user {
                    c.state.status = Status::Exited;
                    c.state.supervisor = None;
                }
            });
            let container = match checked {
                Ok(container) => container,
                Err(_) if !paths.dir.exists() => return Ok(AfterWait::Removed),
                Err(err) => return Err(err),
            };
            if container.state.status != Status::Restarting {
                return Ok(AfterWait::Stopped(container));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(AfterWait::Restart(container));
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// A user's stop, kill or removal: marks `container` as stopped by its user so its
    /// policy no longer restarts it and, if it waits to be restarted, waits until its
    /// supervisor has left `Restarting` (given up, or booted it already). The container as
    /// it is then (None: gone).
    pub(super) fn end_restarts(&self, container: &Container) -> Result<Option<Container>> {
        if self
            .store
            .update(&container.id, |c| c.state.stopped_by_user = true)
            .is_err()
        {
            return Ok(self.store.find(&container.id).ok());
        }
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let Ok(found) = self.store.find(&container.id) else {
                return Ok(None);
            };
            let Some(current) = self.store.reconcile(found)? else {
                return Ok(None);
            };
            if current.state.status != Status::Restarting || Instant::now() >= deadline {
                return Ok(Some(current));
            }
            std::thread::sleep(POLL);
        }
    }
}
