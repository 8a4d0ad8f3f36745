//! Booting and ending containers: start (detached, under a shim, or attached to this
//! process), stop, kill, remove, wait.

use super::{Containers, Session, SHIM_FOR_ATTACH_FLAG};
use crate::container::{Container, Status};
use crate::error::{Error, Result};
use crate::exit::HULL_ERROR;
use crate::supervisor::control;
use crate::supervisor::wire::Request;
use crate::supervisor::{self, Io};
use crate::vm::log_tail;
use anyhow::{bail, Context};
use hull_protocol::ControlMessage;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a detached start waits for its VM before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(600);
/// How long `stop` waits for the VM after SIGKILL, and after killing the VMM.
const KILL_GRACE: Duration = Duration::from_secs(5);
const VMM_KILL_GRACE: Duration = Duration::from_secs(10);

impl Containers {
    /// Boots `container` in this process and supervises it until its VM ends, its streams
    /// going where `io` says; returns its final state. Foreground `run` removes a `--rm`
    /// container afterwards, whatever happened ([`Self::remove_if_auto`]).
    pub fn supervise(&self, container: &Container, io: Io) -> Result<Container> {
        Ok(supervisor::run(
            &self.store,
            container,
            io,
            self.engines.as_ref(),
            &self.networking,
        )?)
    }

    /// The detached supervisor's work (`hull shim ID`): supervises container `id` until its
    /// VM ends, boots it again as long as its `--restart` policy says so (see
    /// [`super::restarts`]), and removes it then if it is `--rm`. With `for_attach`, a
    /// client attaches next and gets the output from the first byte.
    pub fn supervise_detached(&self, id: &str, for_attach: bool) -> Result<Container> {
        let container = self.store.load(id)?;
        let io = if for_attach {
            Io::DetachedForAttach
        } else {
            Io::Detached
        };
        let Some(done) = self.supervise_restarting(container, io)? else {
            // Removed (rm -f) while it waited to be restarted.
            return Err(Error::NoSuchContainer(id.to_string()));
        };
        if done.options.auto_remove {
            self.remove_stored(&done, true)?;
        }
        Ok(done)
    }

    /// Boots the created or ended container `reference` names in this process, its streams
    /// on `io`, until its VM ends (`start -a`); a `--rm` container is removed then.
    pub fn start_attached(&self, reference: &str, io: Io) -> Result<Container> {
        let container = self.find(reference)?;
        if container.is_up() {
            return Err(Error::AlreadyRunning(container.name));
        }
        self.store
            .update(&container.id, super::restarts::started_by_user)?;
        let done = self.supervise(&container, io)?;
        self.remove_if_auto(&done);
        Ok(done)
    }

    /// Removes `container` if it was created with `--rm` (best effort: it has ended).
    pub fn remove_if_auto(&self, container: &Container) {
        if container.options.auto_remove {
            let _ = self.remove_stored(container, true);
        }
    }

    /// Deletes a stopped container, and with `volumes` the anonymous volumes only it used
    /// (`rm -v`; `--rm` does so too, as Docker's).
    fn remove_stored(&self, container: &Container, volumes: bool) -> Result<()> {
        self.store.remove(&container.id)?;
        if volumes && !container.config.mounts.is_empty() {
            crate::volumes::Volumes::open(&self.root)?.remove_anonymous(container)?;
        }
        Ok(())
    }

    /// Starts the container `reference` names in the background, unless it runs already.
    pub fn start(&self, reference: &str) -> Result<Container> {
        let container = self.find(reference)?;
        if !container.is_up() {
            self.start_detached(&container)?;
        }
        Ok(container)
    }

    /// Starts the shim that supervises `container` in its own session and waits until the
    /// VM runs (or failed to).
    pub fn start_detached(&self, container: &Container) -> Result<()> {
        Ok(self.spawn_shim_and_wait(container, false)?)
    }

    /// Starts `container` in the background and attaches to it, its output from the first
    /// byte (`run -it`, `start -ai`): the client may detach and leave it running, as with
    /// Docker's detach keys.
    pub fn start_and_attach(&self, container: &Container) -> Result<Session> {
        if self.find(&container.id)?.is_up() {
            return Err(Error::AlreadyRunning(container.name.clone()));
        }
        self.spawn_shim_and_wait(container, true)?;
        self.attach(&container.id)
    }

    fn spawn_shim_and_wait(&self, container: &Container, for_attach: bool) -> anyhow::Result<()> {
        let shim = self
            .shim
            .as_ref()
            .context("this front-end cannot start detached containers")?;
        let paths = self.store.paths(&container.id);
        let shim_log_path = paths.dir.join("shim.log");
        let shim_log = std::fs::File::create(&shim_log_path)?;
        let mut command = Command::new(&shim.program);
        command
            .args(&shim.args)
            .args(for_attach.then_some(SHIM_FOR_ATTACH_FLAG))
            .arg(&container.id)
            .stdin(Stdio::null())
            .stdout(shim_log.try_clone()?)
            .stderr(shim_log);
        self.store.update(&container.id, |c| {
            c.state.finished_at = None;
            super::restarts::started_by_user(c);
        })?;
        let mut child = command
            .spawn()
            .context("cannot start the container's supervisor (hull shim)")?;
        // The shim marks the container running once the VM's consoles are connected.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let now = self.store.load(&container.id)?;
            if now.state.status == Status::Running {
                reap_later(child);
                return Ok(());
            }
            if now.state.finished_at.is_some() {
                reap_later(child);
                if now.state.exit_code == HULL_ERROR {
                    let why = now.state.error;
                    bail!(
                        "{}",
                        why.unwrap_or_else(|| "the container failed to start".into())
                    );
                }
                return Ok(());
            }
            if child.try_wait()?.is_some() {
                bail!(
                    "the container's supervisor died before the VM started: {}",
                    log_tail(&shim_log_path, 2000)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the container did not start within 10 minutes; see {}",
                    shim_log_path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the container `reference` names: its stop signal (`--stop-signal`, SIGTERM by
    /// default), `grace` (else its `--stop-timeout`, else 10 s), SIGKILL, then the VMM.
    pub fn stop(&self, reference: &str, grace: Option<Duration>) -> Result<()> {
        let container = self.find(reference)?;
        let grace = grace.unwrap_or_else(|| {
            Duration::from_secs(container.config.stop_timeout.map_or(10, u64::from))
        });
        self.stop_container(&container, grace)?;
        self.store.record_event("stop", &container, &[]);
        Ok(())
    }

    fn stop_container(&self, container: &Container, grace: Duration) -> Result<()> {
        // Whatever happens next, its restart policy no longer applies.
        let Some(container) = self.end_restarts(container)? else {
            return Ok(());
        };
        let container = &container;
        if !container.is_running() {
            return Ok(());
        }
        // A paused guest cannot take the stop signal: resume it (if that fails, the VMM is
        // killed below after the grace periods).
        if container.is_paused() {
            let _ = self.resume(container);
        }
        let socket = self.store.paths(&container.id).control_socket();
        let stop_signal = container
            .config
            .stop_signal
            .as_deref()
            .and_then(signal_number)
            .unwrap_or(libc::SIGTERM);
        if self.signal(container, stop_signal).is_ok() && self.wait_stopped(&container.id, grace)? {
            return Ok(());
        }
        if self.signal(container, libc::SIGKILL).is_ok()
            && self.wait_stopped(&container.id, KILL_GRACE)?
        {
            return Ok(());
        }
        // The guest did not react (or the supervisor is gone): end the VM itself.
        if control::request(&socket, &Request::KillVm).is_err() {
            if let Some(vmm) = container.state.vmm.filter(|p| p.is_alive()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(vmm.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        self.wait_stopped(&container.id, VMM_KILL_GRACE)?;
        Ok(())
    }

    /// Sends `signal` to the process of the running container `reference` names.
    pub fn kill(&self, reference: &str, signal: i32) -> Result<()> {
        let container = self.find_running(reference, |c| {
            Error::KillNotRunning(reference.to_string(), c.id.clone())
        })?;
        // The signal reaches a paused guest only once it runs again.
        if container.is_paused() {
            self.resume(&container)?;
        }
        // Docker's: a container a user killed is not restarted by its policy.
        self.store
            .update(&container.id, |c| c.state.stopped_by_user = true)?;
        self.signal(&container, signal)?;
        // Docker's: a SIGKILL'ed container has stopped when `kill` returns (`kill` then
        // `rm` works).
        if signal == libc::SIGKILL {
            self.wait_stopped(&container.id, KILL_GRACE + VMM_KILL_GRACE)?;
        }
        Ok(())
    }

    /// Removes the container `reference` names; a running one only with `force` (which
    /// kills it first).
    pub fn remove(&self, reference: &str, force: bool) -> Result<()> {
        self.remove_with_volumes(reference, force, false)
    }

    /// [`Containers::remove`], and with `volumes` its anonymous volumes (`rm -v`).
    pub fn remove_with_volumes(&self, reference: &str, force: bool, volumes: bool) -> Result<()> {
        let container = self.find(reference)?;
        if container.is_up() {
            if !force {
                return Err(Error::RemoveRunning(reference.to_string()));
            }
            self.stop_container(&container, Duration::ZERO)?;
        }
        self.remove_stored(&container, volumes)
    }

    /// Blocks until the container `reference` names has stopped; its exit status.
    pub fn wait(&self, reference: &str) -> Result<i32> {
        let container = self.find(reference)?;
        while !self.wait_stopped(&container.id, Duration::from_secs(3600))? {}
        Ok(self.find(&container.id)?.state.exit_code)
    }

    /// Waits up to `timeout` for container `id` to stop running; true if it did (or is gone).
    pub fn wait_stopped(&self, id: &str, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.store.find(id).and_then(|c| self.store.reconcile(c));
            match now {
                Ok(Some(c)) if c.is_running() => {}
                _ => return Ok(true),
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to the container's process via its supervisor.
    fn signal(&self, container: &Container, signal: i32) -> Result<()> {
        let socket = self.store.paths(&container.id).control_socket();
        let message = ControlMessage::Signal { signal };
        control::request(&socket, &Request::Control { message })?;
        self.store
            .record_event("kill", container, &[("signal", signal.to_string())]);
        Ok(())
    }
}

/// Waits for the shim in the background: a long-lived front-end (`hull system service`)
/// must reap every supervisor it started, or each leaves a zombie behind.
/// The thread blocks every signal (it is created with them blocked, so none is delivered
/// to it even at its start): a front-end that takes signals on a thread of its own
/// (`run -it`'s SIGWINCH relay) must not have them land here and be lost.
fn reap_later(mut child: std::process::Child) {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut previous = SigSet::empty();
    let blocked = pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        Some(&mut previous),
    );
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    if blocked.is_ok() {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    }
}

/// A signal by name (`SIGUSR1`, `usr1`) or number, as `--stop-signal` takes it.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(number) = name.parse::<i32>() {
        return (1..=64).contains(&number).then_some(number);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}
