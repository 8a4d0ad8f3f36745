//! `run --init`: the tiny init that is the container's PID 1 (Docker's `docker-init`, tini).
//! The same static hull-init binary, exec'd by the container process from a file
//! descriptor opened before it entered the container's root, so nothing is added to the
//! image. It starts the user's process as its child in its own process group (the
//! terminal's foreground group with a tty), forwards every signal it gets to it, reaps every
//! zombie (orphans re-parent to PID 1), and exits with the child's status (128+N for a
//! signal N, as Docker reports it).

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::convert::Infallible;
use std::ffi::CString;

/// argv[0] of the init, as `ps` shows it in the container (Docker's name for it).
pub const ARGV0: &str = "/sbin/docker-init";

/// Whether this process was exec'd as the container's init (by its argv[0]).
pub fn is_invoked_as(argv0: &str) -> bool {
    argv0 == ARGV0
}

/// The init's argv for the process `args`: `/sbin/docker-init -- ARGS...`.
pub fn argv(args: &[String]) -> Vec<String> {
    [ARGV0.to_string(), "--".to_string()]
        .into_iter()
        .chain(args.iter().cloned())
        .collect()
}

/// The process's argv from the init's arguments (after argv[0]): what follows `--`.
pub fn process_args(init_args: &[String]) -> &[String] {
    match init_args.first().map(String::as_str) {
        Some("--") => &init_args[1..],
        _ => init_args,
    }
}

/// Runs the init: returns its exit status (the child's).
pub fn main(init_args: &[String]) -> i32 {
    let args = process_args(init_args);
    // Its comm is the binary's name (`init`); `ps` should show Docker's.
    let _ = nix::sys::prctl::set_name(c"docker-init");
    if args.is_empty() {
        eprintln!("docker-init: no command to run");
        return 1;
    }
    // Blocked before the fork (hull-init execs the init with them blocked already): a
    // signal that arrives before the child runs is queued for sigwait below instead of
    // being lost.
    if let Err(e) = SigSet::all().thread_set_mask() {
        eprintln!("docker-init: cannot block signals: {e}");
        return 1;
    }
    // SAFETY: the init is single-threaded; the child only calls async-signal-safe
    // functions and Rust code without locks before exec.
    let child = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            let error = match exec_child(args) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            eprintln!("docker-init: {error}");
            let code = if error.contains("not found") {
                127
            } else {
                126
            };
            // SAFETY: _exit ends the process without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            eprintln!("docker-init: fork: {e}");
            return 1;
        }
    };
    supervise(child)
}

/// The child: its own process group (the terminal's foreground one), no signal blocked
/// (a signal forwarded meanwhile is delivered now), then exec.
fn exec_child(args: &[String]) -> Result<Infallible, String> {
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        // SIGTTOU is still blocked here, so a background group may take the terminal.
        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
    }
    SigSet::empty()
        .thread_set_mask()
        .map_err(|e| format!("cannot unblock signals: {e}"))?;
    let path_var = std::env::var("PATH").unwrap_or_else(|_| crate::spec::DEFAULT_PATH.into());
    let path = crate::process::exec::resolve(&args[0], &path_var).map_err(|e| e.to_string())?;
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| "the executable's path contains a NUL byte".to_string())?;
    let c_args = args
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "an argument contains a NUL byte".to_string())?;
    let errno = match nix::unistd::execv(&c_path, &c_args) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    Err(format!("exec {}: {}", path.display(), errno.desc()))
}

/// Forwards signals to `child` and reaps until it has exited; its Docker status.
fn supervise(child: Pid) -> i32 {
    let all = SigSet::all();
    loop {
        let signal = match all.wait() {
            Ok(signal) => signal,
            Err(_) => continue,
        };
        if signal != Signal::SIGCHLD {
            // The child may have exited already: ESRCH is fine.
            let _ = kill(child, signal);
            continue;
        }
        if let Some(status) = reap(child) {
            return status;
        }
    }
}

/// Reaps every ended process; the child's Docker status once it is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut child_status = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => child_status = Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                child_status = Some(128 + signal as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return child_status,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_dockers_init_then_the_process() {
        let args = vec!["sleep".to_string(), "5".to_string()];
        assert_eq!(argv(&args), ["/sbin/docker-init", "--", "sleep", "5"]);
        assert_eq!(process_args(&argv(&args)[1..]), args.as_slice());
        assert!(is_invoked_as(&argv(&args)[0]));
        assert!(!is_invoked_as("/init"));
    }
}
