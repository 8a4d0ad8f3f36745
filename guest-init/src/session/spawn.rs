//! Forking a session's process: its stdio (a pty in the container's devpts, or pipes), then
//! in the child the container's cgroup, namespaces, root, rlimits and identity before the
//! exec; or the built-in archive operation (`docker cp`, `diff`, export) in its root.

use super::state::Session;
use super::{ExecContext, ExecPlan, Execs, MAX_SESSIONS};
use crate::console::{set_window_size, take_controlling_tty};
use crate::error::SetupError;
use crate::namespaces::{clone_flag, proc_ns_name, ORDERED_NAMESPACES};
use crate::process::{
    dup_stdio, enter_root, fork_reporting_errors, own_session_on_pipes, pipe, reset_signals,
    set_nonblocking,
};
use crate::syscall::LinuxSyscall;
use hull_protocol::{ArchiveRequest, ExecRequest};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use std::convert::Infallible;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

/// The child's ends of its stdio.
enum ChildStdio {
    Tty(File),
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
}

/// Opens a new pty in the container's devpts, seen through `/proc/PID/root`.
fn open_container_pty(container: Pid) -> Result<(File, File), SetupError> {
    let root_path = format!("/proc/{container}/root");
    let root = nix::fcntl::open(
        root_path.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SetupError::sys(format!("open {root_path}"), e))?;
    crate::pty::open_pty_in(root.as_fd())
}

impl Execs<'_> {
    pub(super) fn start(&mut self, id: u32, request: &ExecRequest) {
        let plan = ExecPlan::new(&self.ctx.plan.process, request);
        self.start_session(id, plan, None);
    }

    /// Starts session `id` running the built-in archive operation `request` (a child of
    /// PID 1 in the container's mount namespace and root, [`crate::archive`]).
    pub(super) fn start_archive(&mut self, id: u32, request: &ArchiveRequest) {
        let plan = ExecPlan {
            process: crate::spec::ProcessPlan {
                terminal: false,
                console_size: None,
                ..self.ctx.plan.process.clone()
            },
            user: None,
            stdin: request.reads_stdin(),
        };
        self.start_session(id, Ok(plan), Some(request));
    }

    fn start_session(
        &mut self,
        id: u32,
        plan: Result<ExecPlan, SetupError>,
        archive: Option<&ArchiveRequest>,
    ) {
        if self.session(id).is_some() {
            log!("exec {id}: a session with that id is running; request ignored");
            return;
        }
        if self.sessions.len() >= MAX_SESSIONS {
            let error = SetupError::Spec(format!(
                "too many exec sessions: at most {MAX_SESSIONS} run at once"
            ));
            self.refuse(id, &error);
            return;
        }
        match plan.and_then(|plan| self.spawn(id, &plan, archive)) {
            Ok(session) => self.sessions.push(session),
            Err(error) => self.refuse(id, &error),
        }
    }

    /// Forks the process of session `id`: `plan`'s program, or the `archive` operation.
    fn spawn(
        &self,
        id: u32,
        plan: &ExecPlan,
        archive: Option<&ArchiveRequest>,
    ) -> Result<Session, SetupError> {
        let container = self.ctx.container;
        let (child_stdio, stdin, stdout, stderr, tty) = if plan.process.terminal {
            let (master, slave) = open_container_pty(container)?;
            if let Some((rows, cols)) = plan.process.console_size {
                set_window_size(&master, rows, cols);
            }
            let clone = |what| {
                master
                    .try_clone()
                    .map_err(|e| SetupError::io(what, "the exec's pty", e))
            };
            let input = if plan.stdin {
                Some(clone("cannot duplicate")?)
            } else {
                None
            };
            let resize = clone("cannot duplicate")?;
            (
                ChildStdio::Tty(slave),
                input,
                Some(master),
                None,
                Some(resize),
            )
        } else {
            let (stdin_r, stdin_w) = pipe()?;
            let (stdout_r, stdout_w) = pipe()?;
            let (stderr_r, stderr_w) = pipe()?;
            for fd in [&stdin_w, &stdout_r, &stderr_r] {
                set_nonblocking(fd)?;
            }
            (
                ChildStdio::Pipes {
                    stdin: stdin_r,
                    stdout: stdout_w,
                    stderr: stderr_w,
                },
                // Without stdin the write end closes here: the process reads EOF at once.
                plan.stdin.then(|| File::from(stdin_w)),
                Some(File::from(stdout_r)),
                Some(File::from(stderr_r)),
                None,
            )
        };
        let (errors_r, errors_w) = pipe()?;
        set_nonblocking(&errors_r)?;
        if self.ctx.plan.namespaces.has(LinuxNamespaceType::Pid) {
            join_namespace(container, LinuxNamespaceType::Pid)?;
        }
        let pid = fork_reporting_errors(errors_w, || match archive {
            Some(request) => archive_child(&self.ctx, request, &child_stdio),
            None => exec_child(&self.ctx, plan, &child_stdio),
        })?;
        drop(child_stdio);
        Ok(Session {
            id,
            pid,
            stdin,
            pending_stdin: Vec::new(),
            close_stdin_when_flushed: false,
            stdout,
            stderr,
            tty,
            setup_errors: Some(File::from(errors_r)),
            error_report: Vec::new(),
            status: None,
            last_activity: Instant::now(),
            unacked_output: 0,
        })
    }
}
/// `/proc/<container>/ns/<name of typ>`.
fn namespace_path(container: Pid, typ: LinuxNamespaceType) -> PathBuf {
    PathBuf::from(format!("/proc/{container}/ns/{}", proc_ns_name(typ)))
}

/// setns(2) into the container's namespace of type `typ` (for pid: the calling process's
/// future children's).
fn join_namespace(container: Pid, typ: LinuxNamespaceType) -> Result<(), SetupError> {
    let path = namespace_path(container, typ);
    let file = File::open(&path).map_err(|e| SetupError::io("cannot open", &path, e))?;
    nix::sched::setns(&file, clone_flag(typ))
        .map_err(|e| SetupError::sys(format!("join the container's {typ} namespace"), e))
}

/// The exec'd process between fork and exec: stdio, cgroup, namespaces, root, rlimits,
/// identity, exec.
fn exec_child(
    ctx: &ExecContext<'_>,
    plan: &ExecPlan,
    stdio: &ChildStdio,
) -> Result<Infallible, SetupError> {
    reset_signals()?;
    match stdio {
        ChildStdio::Tty(tty) => {
            take_controlling_tty(tty)?;
            dup_stdio(tty, tty, tty)?;
        }
        ChildStdio::Pipes {
            stdin,
            stdout,
            stderr,
        } => own_session_on_pipes(stdin, stdout, stderr)?,
    }
    if let Some(cgroup) = ctx.cgroup {
        cgroup.add_self()?;
    }
    // Everything under /proc is opened before the first setns: the mount namespace changes
    // what /proc is.
    let container = ctx.container;
    let mut joins = Vec::new();
    for typ in ORDERED_NAMESPACES
        .into_iter()
        .filter(|t| *t != LinuxNamespaceType::Pid && ctx.plan.namespaces.has(*t))
    {
        let path = namespace_path(container, typ);
        let file = File::open(&path).map_err(|e| SetupError::io("cannot open", &path, e))?;
        joins.push((typ, file));
    }
    let root_path = PathBuf::from(format!("/proc/{container}/root"));
    let root = File::open(&root_path).map_err(|e| SetupError::io("cannot open", &root_path, e))?;
    for (typ, file) in &joins {
        nix::sched::setns(file, clone_flag(*typ))
            .map_err(|e| SetupError::sys(format!("join the container's {typ} namespace"), e))?;
    }
    enter_root(&root)?;
    crate::rlimits::apply(&plan.process.rlimits)?;
    let mut process = plan.process.clone();
    if let Some(user) = &plan.user {
        let passwd = crate::users::read_account_file("/etc/passwd".as_ref());
        let group = crate::users::read_account_file("/etc/group".as_ref());
        let identity = crate::users::resolve(user, &passwd, &group).map_err(|e| {
            SetupError::Spec(format!(
                "{e}: no matching entries in the container's /etc/passwd or /etc/group (numeric ids always work)"
            ))
        })?;
        process.uid = identity.uid;
        process.gid = identity.gid;
        process.additional_gids = identity.additional_gids;
    }
    crate::container::apply_process_identity(&LinuxSyscall, &process)?;
    crate::process::exec::exec(&process)
}

/// The archive operation's process between fork and `_exit`: stdio, the container's mount
/// namespace and root (as root, whatever the container's user: it reads and writes any
/// file, as Docker's daemon does), then [`crate::archive::run`]. It never execs anything
/// from the container.
fn archive_child(
    ctx: &ExecContext<'_>,
    request: &ArchiveRequest,
    stdio: &ChildStdio,
) -> Result<Infallible, SetupError> {
    reset_signals()?;
    let ChildStdio::Pipes {
        stdin,
        stdout,
        stderr,
    } = stdio
    else {
        return Err(SetupError::Spec(
            "an archive session has no terminal".into(),
        ));
    };
    nix::unistd::setsid().map_err(|e| SetupError::sys("setsid", e))?;
    // The changes are read from the overlay's upper directory, which only PID 1's mount
    // namespace shows; every other operation works in the container's root.
    if !matches!(
        request,
        ArchiveRequest::Changes | ArchiveRequest::ExportChanges { .. }
    ) {
        let container = ctx.container;
        let root_path = PathBuf::from(format!("/proc/{container}/root"));
        let root =
            File::open(&root_path).map_err(|e| SetupError::io("cannot open", &root_path, e))?;
        if ctx.plan.namespaces.has(LinuxNamespaceType::Mount) {
            join_namespace(container, LinuxNamespaceType::Mount)?;
        }
        enter_root(&root)?;
    }
    let clone = |fd: &OwnedFd| {
        fd.try_clone()
            .map(File::from)
            .map_err(|e| SetupError::io("cannot duplicate", "an archive pipe", e))
    };
    let (input, output, errors) = (clone(stdin)?, clone(stdout)?, clone(stderr)?);
    let frozen = match request {
        ArchiveRequest::ExportChanges { freeze: true, .. } => ctx
            .cgroup
            .and_then(|c| c.dir())
            .map(crate::cgroup::Frozen::new),
        _ => None,
    };
    let code = crate::archive::run(request, input, output, errors);
    drop(frozen);
    // SAFETY: _exit only ends the process (its output is written unbuffered or flushed by
    // `run`); exit() would run PID 1's atexit handlers in this forked copy.
    unsafe { libc::_exit(code) }
}
