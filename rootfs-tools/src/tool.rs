//! Running external tools (mkfs.erofs, mkfs.ext4, debootstrap) so that none outlives the hull
//! process that started it, with errors that say what to install or what failed.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};

use crate::error::{Result, StoreError};

/// A `Command` whose process is killed when the hull process that started it dies: a
/// `kill -9` of hull must not leave a `mkfs.erofs` or `debootstrap` running. A tool that
/// writes into a store work directory is started with `WorkDir::tool_command` instead,
/// which also keeps that directory locked for as long as the tool runs.
pub(crate) fn tool_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    let parent = rustix::process::getpid();
    // SAFETY: runs in the child between fork and exec, making only async-signal-safe
    // system calls (prctl, getppid) and allocating nothing (the error is a raw errno).
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // A parent that died before the prctl sends no signal: the child was already
            // re-parented, so it must not go on to run the tool.
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
    cmd
}

/// Runs `cmd` (built by [`tool_command`] or `WorkDir::tool_command`) to completion with no
/// stdin, turning "not installed" and failures into actionable errors.
pub(crate) fn run_tool(tool: &'static str, package: &'static str, cmd: &mut Command) -> Result<()> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| tool_spawn_error(tool, package, e))?;
    if output.status.success() {
        return Ok(());
    }
    let args: Vec<&OsStr> = cmd.get_args().collect();
    Err(tool_failed(tool, &args, &output.status, &output.stderr))
}

pub(crate) fn tool_spawn_error(
    tool: &'static str,
    package: &'static str,
    e: std::io::Error,
) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StoreError::ToolMissing { tool, package }
    } else {
        StoreError::Io {
            action: "run",
            path: tool.into(),
            source: e,
        }
    }
}

pub(crate) fn tool_failed(
    tool: &str,
    args: &[&OsStr],
    status: &ExitStatus,
    stderr: &[u8],
) -> StoreError {
    let stderr = String::from_utf8_lossy(stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    let command = std::iter::once(tool.to_owned())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    StoreError::ToolFailed {
        command,
        status: status.to_string(),
        stderr: tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package() {
        let err = run_tool(
            "hull-surely-missing-tool",
            "some-package",
            &mut tool_command("hull-surely-missing-tool"),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            StoreError::ToolMissing {
                package: "some-package",
                ..
            }
        ));
    }

    #[test]
    fn a_failing_tool_reports_its_command_and_stderr() {
        let err = run_tool(
            "sh",
            "dash",
            tool_command("sh").args(["-c", "echo broken >&2; exit 3"]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sh -c"), "{err}");
        assert!(err.contains("broken"), "{err}");
    }
}
