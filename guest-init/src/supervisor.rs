//! Starts the container's own process and stays its parent: fork (reporting setup errors
//! through a close-on-exec pipe, [`crate::process`]), relay, collect the exit status.

use crate::cgroup::CgroupManager;
use crate::console::{self, Consoles};
use crate::container;
use crate::error::{SetupError, EXIT_SETUP_FAILED};
use crate::process::exec;
use crate::process::{dup_stdio, fork_reporting_errors, own_session_on_pipes, pipe, reset_signals};
use crate::relay::{Pipes, Relay};
use crate::session::{ExecContext, Execs};
use crate::spec::ContainerPlan;
use crate::syscall::Syscall;
use hull_protocol::RunResult;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitStatus};
use std::convert::Infallible;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// What the container process is started from.
pub struct Launch<'a> {
    /// Kernel calls of the setup path.
    pub sys: &'a dyn Syscall,
    /// The validated spec.
    pub plan: &'a ContainerPlan,
    /// The assembled root filesystem.
    pub root: &'a Path,
    /// Where stdio goes.
    pub consoles: &'a Consoles,
    /// The container's cgroup, if the system has cgroup v2.
    pub cgroup: Option<&'a dyn CgroupManager>,
}

/// The container process's ends of its stdio.
enum ChildStdio<'a> {
    /// The process allocates its own pty in the container's devpts (Docker's /dev/pts/0)
    /// and hands the master to PID 1 over `master_to_init`; `console` (hvc0) is bound on
    /// its /dev/console.
    Tty {
        console: &'a Path,
        master_to_init: OwnedFd,
    },
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
}

/// Prints a setup error on the diagnostics console (stderr of PID 1 = ttyS0) and, so the
/// user sees it, on the container's stderr stream.
pub fn show_setup_error(consoles: Option<&Consoles>, error: &str) {
    log!("{error}");
    if let Some(consoles) = consoles {
        let _ = writeln!(consoles.error_stream(), "hull: {error}");
    }
}

/// Runs the container to completion. Never panics on setup failures: they become a
/// [`RunResult`] with exit status 125/126/127 and the error text.
pub fn run(launch: &Launch<'_>) -> RunResult {
    match start_and_wait(launch) {
        Ok(result) => result,
        Err(e) => {
            let text = e.to_string();
            show_setup_error(Some(launch.consoles), &text);
            RunResult::failed(e.exit_code(), text)
        }
    }
}

fn start_and_wait(launch: &Launch<'_>) -> Result<RunResult, SetupError> {
    let plan = launch.plan;
    if let (Some(cgroup), Some(resources)) = (launch.cgroup, &plan.resources) {
        cgroup.apply(resources)?;
    }
    let tty = launch
        .consoles
        .tty
        .as_ref()
        .filter(|_| plan.process.terminal);
    let mut master_from_child = None;
    let (child_stdio, pipes) = match tty {
        Some((_, path)) => {
            let (init_end, child_end) = socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| SetupError::sys("socketpair for the terminal", e))?;
            master_from_child = Some(init_end);
            (
                ChildStdio::Tty {
                    console: path,
                    master_to_init: child_end,
                },
                Pipes {
                    stdin: None,
                    stdout: None,
                    stderr: None,
                },
            )
        }
        None => {
            let (stdin_r, stdin_w) = pipe()?;
            let (stdout_r, stdout_w) = pipe()?;
            let (stderr_r, stderr_w) = pipe()?;
            nix::fcntl::fcntl(&stdin_w, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map_err(|e| SetupError::sys("make the stdin pipe non-blocking", e))?;
            (
                ChildStdio::Pipes {
                    stdin: stdin_r,
                    stdout: stdout_w,
                    stderr: stderr_w,
                },
                Pipes {
                    stdin: Some(stdin_w),
                    stdout: Some(stdout_r),
                    stderr: Some(stderr_r),
                },
            )
        }
    };
    let (error_r, error_w) = pipe()?;

    // SIGCHLD is read from a signalfd, so it must be blocked before the child can exit.
    let mut sigchld_mask = SigSet::empty();
    sigchld_mask.add(Signal::SIGCHLD);
    let old_mask = sigchld_mask
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(|e| SetupError::sys("block SIGCHLD", e))?;
    let sigchld = SignalFd::with_flags(
        &sigchld_mask,
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| SetupError::sys("signalfd", e))?;

    let oom_kills_before = crate::cgroup::system_oom_kills();
    plan.namespaces.unshare_before_fork(launch.sys)?;
    let child = fork_reporting_errors(error_w, || child_main(launch, &child_stdio))?;
    drop(child_stdio);
    // The pty the process made for itself: PID 1 relays hvc0 <-> its master. None when
    // the process failed before (its error pipe says why).
    let master = master_from_child
        .and_then(crate::pty::recv_fd)
        .map(File::from);
    let pipes = match &master {
        Some(master) => terminal_pipes(master)?,
        None => pipes,
    };

    let mut report = Vec::new();
    let _ = File::from(error_r).read_to_end(&mut report);
    let exec_ms = crate::timeline::boot_time_ms();
    crate::timeline::mark("exec");
    if let Some((code, message)) = report.split_first() {
        let _ = waitpid(child, None);
        let _ = old_mask.thread_set_mask();
        let text = String::from_utf8_lossy(message).into_owned();
        show_setup_error(Some(launch.consoles), &text);
        return Ok(RunResult::failed(i32::from(*code), text));
    }

    let mut memory_guard = launch
        .cgroup
        .and_then(|c| c.dir())
        .and_then(crate::memory_guard::MemoryGuard::open);
    let status = Relay {
        child,
        sigchld,
        pipes,
        input: launch
            .consoles
            .input
            .as_ref()
            .filter(|_| !plan.process.stdin_closed),
        output: &launch.consoles.output,
        errors: launch.consoles.error_stream(),
        control: launch.consoles.control.as_ref(),
        tty: master.as_ref(),
        cgroup_dir: launch.cgroup.and_then(|c| c.dir()),
        execs: Execs::new(ExecContext {
            container: child,
            plan,
            cgroup: launch.cgroup,
            events: launch.consoles.control.as_ref(),
        }),
        memory_guard: memory_guard.as_mut(),
        stats: launch
            .cgroup
            .and_then(|c| c.dir())
            .filter(|_| {
                crate::stats::enabled(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default())
            })
            .map(|dir| crate::stats::StatsReporter::new(dir.to_path_buf())),
    }
    .run();
    let _ = old_mask.thread_set_mask();
    let mut result = match status {
        WaitStatus::Exited(_, code) => RunResult::exited(code),
        WaitStatus::Signaled(_, signal, _) => RunResult::signaled(signal as i32),
        other => RunResult::failed(
            EXIT_SETUP_FAILED,
            format!("unexpected wait status {other:?}"),
        ),
    };
    result.boot_to_exec_ms = exec_ms;
    // Docker's `OOMKilled`: the container's main process was the OOM killer's victim. A
    // child it killed (`sort` under `sh`) leaves the main process running, so it is not.
    let oom_kill_seen = match launch.cgroup {
        Some(cgroup) => cgroup.oom_killed(),
        None => crate::cgroup::system_oom_kills() > oom_kills_before,
    };
    // The memory guard's kills are OOM kills too (it only acts ahead of the kernel).
    let guard_killed_main = memory_guard
        .as_ref()
        .is_some_and(|g| g.killed.contains(&child.as_raw()));
    result.oom_killed =
        guard_killed_main || crate::cgroup::main_process_oom_killed(&status, oom_kill_seen);
    Ok(result)
}

fn wire_stdio(stdio: &ChildStdio<'_>) -> Result<(), SetupError> {
    match stdio {
        ChildStdio::Tty { .. } => {
            // Its own session now; the pty comes once the container's devpts is mounted
            // (`take_container_terminal`).
            nix::unistd::setsid()
                .map(drop)
                .map_err(|e| SetupError::sys("setsid", e))
        }
        ChildStdio::Pipes {
            stdin,
            stdout,
            stderr,
        } => own_session_on_pipes(stdin, stdout, stderr),
    }
}

/// The container process: stdio, cgroup, namespaces, mounts, root, identity, exec.
fn child_main(launch: &Launch<'_>, stdio: &ChildStdio<'_>) -> Result<Infallible, SetupError> {
    let plan = launch.plan;
    reset_signals()?;
    wire_stdio(stdio)?;
    if let Some(cgroup) = launch.cgroup {
        cgroup.add_self()?;
    }
    plan.namespaces.unshare_in_child(launch.sys)?;
    if let Err(e) = crate::net::bring_up_loopback() {
        // A kernel without IPv4 has no lo to bring up; the container can still run.
        crate::log!("{e}");
    }
    let console = match stdio {
        ChildStdio::Tty { console, .. } => Some(*console),
        ChildStdio::Pipes { .. } => None,
    };
    // While hull-init's binary is still visible: the container's root will not have it.
    let init = plan.init.then(exec::open_init_binary).transpose()?;
    container::prepare_rootfs(launch.sys, launch.root, plan, console)?;
    container::enter_root(launch.sys, launch.root)?;
    container::finish_root(launch.sys, plan)?;
    container::restrict_paths(launch.sys, plan)?;
    if let ChildStdio::Tty { master_to_init, .. } = stdio {
        take_container_terminal(plan, master_to_init.as_fd())?;
    }
    if plan.hold {
        hold();
    }
    // Before dropping privileges: raising a hard limit needs CAP_SYS_RESOURCE.
    crate::rlimits::apply(&plan.process.rlimits)?;
    container::apply_identity(launch.sys, plan)?;
    match &init {
        Some(init) => exec::exec_with_init(init, &plan.process),
        None => exec::exec(&plan.process),
    }
}

/// In the container process, inside its root: a new pty of its devpts becomes its
/// controlling terminal and stdio (Docker's /dev/pts/0), sized as the client's; the master
/// goes to PID 1.
fn take_container_terminal(
    plan: &ContainerPlan,
    master_to_init: BorrowedFd<'_>,
) -> Result<(), SetupError> {
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SetupError::sys("open the container's root", e))?;
    let (master, slave) = crate::pty::open_pty_in(root.as_fd())?;
    console::set_controlling_tty(&slave)?;
    if let Some((rows, cols)) = plan.process.console_size {
        console::set_window_size(&slave, rows, cols);
    }
    dup_stdio(&slave, &slave, &slave)?;
    crate::pty::send_fd(master_to_init, master.as_fd())
}

/// PID 1's side of a terminal container: the pty master (opened non-blocking: a full pty
/// must not block PID 1) as the process's stdin and its output.
fn terminal_pipes(master: &File) -> Result<Pipes, SetupError> {
    let duplicate =
        || nix::unistd::dup(master).map_err(|e| SetupError::sys("duplicate the pty master", e));
    Ok(Pipes {
        stdin: Some(duplicate()?),
        stdout: Some(duplicate()?),
        stderr: None,
    })
}

/// The container process of a helper boot ([`ContainerPlan::hold`]): set up, it waits for
/// the signal that ends the VM instead of exec'ing the container's program.
fn hold() -> ! {
    // SAFETY: closes this forked child's fds from 3 up: the error-report pipe, whose end
    // tells PID 1 the setup succeeded (as an exec would), and PID 1's own. Nothing uses them
    // again: this never returns, so no Rust owner of them is ever dropped.
    unsafe { libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, 0) };
    loop {
        nix::unistd::pause();
    }
}
