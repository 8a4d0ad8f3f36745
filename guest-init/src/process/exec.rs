//! Finding `args[0]` on the container's `$PATH` and exec'ing it.

use crate::error::{exec_failure, SetupError};
use crate::spec::ProcessPlan;
use nix::unistd::AccessFlags;
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

fn is_executable_file(path: &Path) -> bool {
    path.metadata().map(|m| m.is_file()).unwrap_or(false)
        && nix::unistd::access(path, AccessFlags::X_OK).is_ok()
}

/// Resolves `name` like Go's exec.LookPath (what Docker uses): a name with a `/` is used
/// as is; otherwise the first executable regular file `<dir>/<name>` of `path_var`.
pub fn resolve(name: &str, path_var: &str) -> Result<PathBuf, SetupError> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    path_var
        .split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| SetupError::NotInPath(name.to_string()))
}

fn cstrings(items: &[String]) -> Result<Vec<CString>, SetupError> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_str())
                .map_err(|_| SetupError::Spec(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

/// Looks up and execs the process (in the container root, with its identity already set).
/// Returns only on failure.
pub fn exec(process: &ProcessPlan) -> Result<Infallible, SetupError> {
    let name = &process.args[0];
    let path = resolve(name, process.search_path())?;
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| SetupError::Spec("executable path contains a NUL byte".into()))?;
    let args = cstrings(&process.args)?;
    let env = cstrings(&process.env)?;
    let errno = match nix::unistd::execve(&c_path, &args, &env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    Err(exec_failure(name, &path, errno))
}

/// `run --init`: checks that the process can be found (the same error and status as
/// without an init), then execs the container's init from `init` (hull-init's own binary,
/// opened before the container's root was entered) with the process after `--`.
pub fn exec_with_init(init: &OwnedFd, process: &ProcessPlan) -> Result<Infallible, SetupError> {
    resolve(&process.args[0], process.search_path())?;
    let args = cstrings(&crate::container_init::argv(&process.args))?;
    let env = cstrings(&process.env)?;
    // Exec'd with every signal blocked (the mask survives exec): a stop signal the host
    // sends right away stays pending until the init waits for it. Unblocked, it would be
    // discarded: PID 1 of a pid namespace drops signals it has no handler for yet.
    nix::sys::signal::SigSet::all()
        .thread_set_mask()
        .map_err(|e| SetupError::sys("block signals for the container's init", e))?;
    // A static binary: fexecve needs no interpreter, so a close-on-exec descriptor works.
    let errno = match nix::unistd::fexecve(init, &args, &env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    Err(SetupError::sys("exec the container's init", errno))
}

/// hull-init's own binary, to exec as the container's init later (see [`exec_with_init`]).
pub fn open_init_binary() -> Result<OwnedFd, SetupError> {
    nix::fcntl::open(
        "/proc/self/exe",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SetupError::sys("open hull-init's binary for --init", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn path_lookup_skips_non_executables_and_reports_dockers_message() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(b.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path_var = format!("{}:{}", a.display(), b.display());
        assert_eq!(resolve("tool", &path_var).unwrap(), b.join("tool"));
        let err = resolve("nope", &path_var).unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert_eq!(
            err.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
    }

    #[test]
    fn names_with_a_slash_are_not_looked_up() {
        assert_eq!(resolve("./x", "/bin").unwrap(), PathBuf::from("./x"));
        assert_eq!(resolve("/bin/foo", "").unwrap(), PathBuf::from("/bin/foo"));
    }
}
