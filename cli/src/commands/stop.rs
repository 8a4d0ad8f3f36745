//! `hull stop`: SIGTERM to the container's process, SIGKILL after the grace period, and if
//! even that does not end the VM, the VMM itself is killed.

use crate::args::Globals;
use crate::container::{Container, ContainerStore};
use crate::supervisor::control::{self, Request};
use anyhow::Result;
use hull_protocol::ControlMessage;
use std::time::{Duration, Instant};

/// `hull stop` flags.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Containers to stop.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Waits up to `timeout` for container `id` to stop running; true if it did.
pub fn wait_stopped(store: &ContainerStore, id: &str, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let now = store.find(id).and_then(|c| store.reconcile(c));
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
pub fn signal(store: &ContainerStore, container: &Container, signal: i32) -> Result<()> {
    let socket = store.paths(&container.id).control_socket();
    control::request(
        &socket,
        &Request::Control {
            message: ControlMessage::Signal { signal },
        },
    )
}

/// Stops one container: TERM, grace period, KILL, then the VMM.
pub fn stop(store: &ContainerStore, container: &Container, grace: Duration) -> Result<()> {
    if !container.is_running() {
        return Ok(());
    }
    let socket = store.paths(&container.id).control_socket();
    if signal(store, container, libc::SIGTERM).is_ok() && wait_stopped(store, &container.id, grace)?
    {
        return Ok(());
    }
    if signal(store, container, libc::SIGKILL).is_ok()
        && wait_stopped(store, &container.id, Duration::from_secs(5))?
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
    wait_stopped(store, &container.id, Duration::from_secs(10))?;
    Ok(())
}

/// `hull stop`.
pub fn run(args: StopArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    super::for_each(&args.containers, |reference| {
        let container = store.find_current(reference)?;
        stop(&store, &container, Duration::from_secs(args.time))?;
        println!("{reference}");
        Ok(())
    })
}
