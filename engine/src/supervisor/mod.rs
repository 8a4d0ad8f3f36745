//! The per-container supervisor: boots the container's VM on its engine, connects the
//! consoles to the host terminal (foreground `run`, `start -a`) or only to the container log
//! (`hull shim`, for detached containers), serves `stop`/`kill`/`attach`/`exec` requests, and
//! records how the container ended, read from the config disk (the VMM's own exit code means
//! nothing).

pub mod attach;
pub mod control;
pub mod exec;
pub mod exec_output;
pub mod helper;
pub mod network;
pub mod port_proxy;
pub mod pump;
pub mod ready;
pub mod shares;
pub mod signals;
pub mod terminal;
pub mod top;
pub mod wire;

use crate::container::liveness::{self, ProcessRef};
use crate::container::state::now_rfc3339;
use crate::container::{Container, ContainerStore, Status};
use crate::vm::{log_tail, DiskSpec, Engines, VmSpec};
use anyhow::{Context, Result};
use control::ControlChannel;
use hull_protocol::{
    ControlMessage, GuestEvent, RunResult, RunSpec, CONFIG_DISK_SERIAL, CONFIG_DISK_SIZE,
    WRITABLE_DISK_SERIAL,
};
use pump::ContainerLog;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;

/// Where the container's streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// The host terminal: stdout/stderr to ours, stdin from ours when `stdin` is set.
    Terminal {
        /// Forward our stdin (`-i`).
        stdin: bool,
    },
    /// Only the container log (detached).
    Detached,
    /// Detached, for a client that attaches next (`run -it`, `start -ai`): the output before
    /// it arrives is held for it, so it sees the container's first bytes.
    DetachedForAttach,
}

/// Boots `container` on one of `engines` and supervises it until its VM ends; returns its
/// final state.
pub fn run(
    store: &ContainerStore,
    container: &Container,
    io: Io,
    engines: &dyn Engines,
    networking: &network::Networking,
) -> Result<Container> {
    match boot_and_wait(store, container, io, engines, networking) {
        Ok(done) => Ok(done),
        Err(err) => {
            // A failure before or while booting is hull's own: record it as Docker's 125.
            let message = format!("{err:#}");
            let _ = store.record_exit(&container.id, None, (crate::exit::HULL_ERROR, &message));
            Err(err)
        }
    }
}

fn boot_and_wait(
    store: &ContainerStore,
    container: &Container,
    io: Io,
    engines: &dyn Engines,
    networking: &network::Networking,
) -> Result<Container> {
    let paths = store.paths(&container.id);
    let options = &container.options;
    let artifacts = engines.guest(options.engine)?;
    // Held for the VM's life: a `hull cp` helper VM on these disks waits for it (and this
    // waits for a helper that is copying). Taken before the address is leased: while it is
    // held, other containers' starts know that lease is live (`helper::disks_in_use`).
    let _disks = helper::lock_disks(&paths.dir)?;
    // Held until the VM has ended: its drop gives the address back (before `_disks` goes).
    let mut attached = network::attach(networking, store, container)?;
    write_config_disk(&paths.run_spec(), &paths.config_disk(), attached.as_ref())?;

    let mut disks: Vec<DiskSpec> = vec![DiskSpec {
        path: paths.config_disk(),
        serial: CONFIG_DISK_SERIAL.into(),
        read_only: false,
    }];
    for (index, layer) in container.layer_paths.iter().enumerate() {
        disks.push(DiskSpec {
            path: layer.clone(),
            serial: hull_protocol::layer_disk_serial(index),
            read_only: true,
        });
    }
    disks.push(DiskSpec {
        path: paths.rw_disk(),
        serial: WRITABLE_DISK_SERIAL.into(),
        read_only: false,
    });
    // Held for the VM's life (and its drop reaps virtiofsd once the VM has ended).
    let share = start_share(
        store,
        container,
        &paths.socket_dir(),
        &paths.dir.join("virtiofsd.log"),
    )?;
    let spec = VmSpec {
        kernel: artifacts.kernel,
        initramfs: artifacts.initramfs,
        cmdline: artifacts.cmdline,
        mem_mib: options.mem_mib,
        cpus: options.cpus,
        disks,
        socket_dir: paths.socket_dir(),
        serial_log: paths.vm_log(),
        engine_log: paths.engine_log(),
        nics: attached
            .as_mut()
            .and_then(|a| a.nic.take())
            .into_iter()
            .collect(),
        share: share.as_ref().map(|s| s.socket.clone()),
        restore: None,
        zygote_memory: None,
        rehearse: false,
    };
    let engine = engines.engine(options.engine);
    tracing::debug!(engine = ?engine.kind(), ?spec, "booting");
    // The spec goes with the call: the VMM holds the taps then, and once it is gone, so are
    // they.
    let mut vm = crate::vm::warm::spawn(engine.as_ref(), spec, options.cold)?;
    let _port_proxies = attached.as_mut().and_then(network::Attached::forward_ports);
    let vmm = ProcessRef::of(vm.child.id());
    let started = store.update(&container.id, |c| {
        c.state.status = Status::Running;
        c.state.supervisor = ProcessRef::of(std::process::id());
        c.state.vmm = vmm;
        c.state.boot_id = liveness::boot_id();
        c.state.started_at = Some(now_rfc3339());
        c.state.finished_at = None;
        c.state.exit_code = 0;
        c.state.oom_killed = false;
        c.state.error = None;
        c.state.paused = false;
        c.state.network = attached.as_ref().map(|a| a.state.clone());
    })?;
    store.record_event("start", &started, &[]);

    let channel = ControlChannel::new(vm.consoles.control.take(), vm.child.id());
    let terminal = matches!(io, Io::Terminal { .. });
    if terminal {
        // Before any thread exists: threads inherit the blocked mask, so only the signal
        // thread ever receives these signals.
        signals::forward(channel.clone(), true);
    }
    // The guest writes its events on hvc2: read it in every mode (also `hull shim`). Spawned
    // after `signals::forward`, so this thread too has the proxied signals blocked. Exec
    // sessions get their events from it, and end when it does.
    let execs = exec::ExecSessions::new(channel.clone());
    let tops = top::TopRequests::new(channel.clone());
    let ready = match vm.consoles.events.take() {
        Some(events) => {
            let mut route = execs.router();
            let stats = paths.stats();
            let _ = std::fs::remove_file(&stats);
            let answers = tops.clone();
            ready::ReadyGate::watch(events, move |event| match event {
                GuestEvent::Stats { .. } => crate::containers::stats::record(&stats, &event),
                GuestEvent::TopProcess { .. } | GuestEvent::TopEnd { .. } => answers.deliver(event),
                other => route(other),
            })
        }
        None => {
            execs.close("this engine gives the guest no control console (needed by exec)");
            ready::ReadyGate::open()
        }
    };
    let attachments = attach::Attachments::new(ready.clone(), io == Io::DetachedForAttach);
    control::serve(
        &paths.control_socket(),
        channel.clone(),
        attachments.clone(),
        execs,
        tops,
    )?;
    let log = ContainerLog::open(&paths.container_log())?;
    let _raw = if terminal && options.tty {
        terminal::RawMode::enable()
    } else {
        None
    };
    if options.tty {
        if let Some((rows, cols)) = terminal::size().filter(|_| terminal) {
            channel.send(&ControlMessage::Resize { rows, cols });
        }
    }

    let stdout: Option<Box<dyn Write + Send>> = terminal.then(|| Box::new(std::io::stdout()) as _);
    let stderr: Option<Box<dyn Write + Send>> = terminal.then(|| Box::new(std::io::stderr()) as _);
    // `hull attach` clients get the output too, whoever else reads it.
    let mut outputs = vec![pump::output(
        vm.consoles.stdio_out,
        Some(attachments.tee(attach::STDOUT, stdout)),
        log.clone(),
        "stdout",
    )];
    if let Some(err_console) = vm.consoles.stderr.take() {
        let stderr = Some(attachments.tee(attach::STDERR, stderr));
        outputs.push(pump::output(err_console, stderr, log, "stderr"));
    }
    // Keeps hvc0's write side open for the VM's life: closing a pipe would read as a hangup.
    let mut keep_stdin_open = None;
    match io {
        Io::Terminal { stdin: true } => {
            let eof_channel = channel.clone();
            let tty = options.tty;
            pump::input(vm.consoles.stdio_in, ready, move |bytes| {
                if !tty {
                    eof_channel.send(&ControlMessage::StdinEof { bytes });
                }
            });
        }
        // Detached with -i: stdin stays open for `hull attach` clients, as Docker's does.
        Io::Detached | Io::DetachedForAttach if options.interactive => {
            attachments.set_stdin(vm.consoles.stdio_in);
            if !options.tty {
                let eof_channel = channel.clone();
                attachments.set_stdin_closer(move |bytes| {
                    eof_channel.send(&ControlMessage::StdinEof { bytes });
                });
            }
        }
        _ => {
            if !options.tty {
                channel.send(&ControlMessage::StdinEof { bytes: 0 });
            }
            keep_stdin_open = Some(vm.consoles.stdio_in);
        }
    }

    let status = vm.child.wait().context("waiting for the VMM")?;
    for output in outputs {
        let _ = output.join();
    }
    drop(keep_stdin_open);
    let _ = std::fs::remove_file(paths.control_socket());
    let _ = std::fs::remove_file(crate::vm::qmp::qmp_socket(&paths.socket_dir()));
    if paths.socket_dir() != paths.dir {
        // The short socket directory under /tmp only lives as long as the VM.
        let _ = std::fs::remove_dir_all(paths.socket_dir());
    }
    let result = File::open(paths.config_disk())
        .ok()
        .and_then(|mut disk| RunResult::read_from(&mut disk).ok());
    let fallback = if status.signal() == Some(libc::SIGKILL) {
        (137, "the VM was killed".to_string())
    } else {
        (
            crate::exit::HULL_ERROR,
            format!(
                "the VM ended ({status}) without reporting the container's status\n\
                 guest log {}:\n{}\nVMM log {}:\n{}",
                paths.vm_log().display(),
                log_tail(&paths.vm_log(), 1500),
                paths.engine_log().display(),
                log_tail(&paths.engine_log(), 800)
            ),
        )
    };
    let reported = result.is_some();
    let done = store.record_exit(&container.id, result, (fallback.0, &fallback.1))?;
    // Before the shim removes a --rm container: its attached clients learn the status here.
    attachments.finish(done.state.exit_code);
    if !reported && fallback.0 == crate::exit::HULL_ERROR {
        // hull's own failure: the guest printed nothing, so the message must reach the user.
        return Err(crate::exit::with_code(fallback.0, fallback.1));
    }
    Ok(done)
}

/// Writes a fresh config disk: the spec (with this boot's network) at its offset, zeros (no
/// stale result) elsewhere.
fn write_config_disk(
    run_spec: &std::path::Path,
    disk: &std::path::Path,
    network: Option<&network::Attached>,
) -> Result<()> {
    let text =
        std::fs::read(run_spec).with_context(|| format!("cannot read {}", run_spec.display()))?;
    let mut spec: RunSpec = serde_json::from_slice(&text)
        .with_context(|| format!("{} is corrupt", run_spec.display()))?;
    if let Some(network) = network {
        network.configure(&mut spec)?;
    }
    let _ = std::fs::remove_file(disk);
    let mut file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(disk)
        .with_context(|| format!("cannot create {}", disk.display()))?;
    file.set_len(CONFIG_DISK_SIZE)?;
    spec.write_to(&mut file)?;
    file.sync_all()?;
    Ok(())
}

/// Starts the virtiofsd that serves `container`'s volumes and bind mounts, if it has any,
/// its socket in `dir`, its output in `log`.
pub(crate) fn start_share(
    store: &ContainerStore,
    container: &Container,
    dir: &std::path::Path,
    log: &std::path::Path,
) -> Result<Option<shares::Share>> {
    let shared: Vec<_> = crate::volumes::shared(&container.config.mounts).collect();
    if shared.is_empty() {
        return Ok(None);
    }
    let volumes = crate::volumes::Volumes::open(store.root())?;
    let entries = shared
        .iter()
        .map(|mount| {
            Ok(shares::ShareEntry {
                host_path: volumes.host_path(mount)?,
                read_only: mount.read_only,
            })
        })
        .collect::<crate::error::Result<Vec<_>>>()?;
    Ok(Some(shares::start(&entries, dir, log)?))
}
