//! `hull-init run`: runs a config disk's container on this host, without a VM, in a
//! private mount namespace. For integration tests and debugging the guest half:
//!
//! `hull-init run --config config.img --disk hull-layer-0=/dev/loop0 --disk hull-rw=/dev/loop1 --work /tmp/w`

use crate::console::Consoles;
use crate::error::EXIT_SETUP_FAILED;
use crate::rootfs::Layout;
use crate::runner::{self, Environment};
use hull_protocol::{RunResult, RunSpec};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;

const USAGE: &str =
    "usage: hull-init run --config FILE --work DIR [--disk SERIAL=DEVICE]... [--cgroup-root DIR]
(hull-init is the guest's PID 1; `run` executes a spec on this host for tests)";

/// Parsed `run` arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunArgs {
    /// Config disk image (spec in, result out).
    pub config: PathBuf,
    /// Work directory for mount points.
    pub work: PathBuf,
    /// Serial -> device.
    pub disks: BTreeMap<String, PathBuf>,
    /// cgroup v2 root to create the container cgroup in.
    pub cgroup_root: Option<PathBuf>,
}

/// Parses `run ...`.
pub fn parse_args(args: &[String]) -> Result<RunArgs, String> {
    let mut it = args.iter();
    if it.next().map(String::as_str) != Some("run") {
        return Err(USAGE.into());
    }
    let mut parsed = RunArgs::default();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--config" => parsed.config = value.into(),
            "--work" => parsed.work = value.into(),
            "--cgroup-root" => parsed.cgroup_root = Some(value.into()),
            "--disk" => {
                let (serial, device) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--disk wants SERIAL=DEVICE, got {value:?}"))?;
                parsed.disks.insert(serial.into(), device.into());
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if parsed.config.as_os_str().is_empty() || parsed.work.as_os_str().is_empty() {
        return Err(USAGE.into());
    }
    Ok(parsed)
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<File, String> {
    fd.try_clone_to_owned()
        .map(File::from)
        .map_err(|e| format!("cannot duplicate stdio: {e}"))
}

fn run(args: &RunArgs) -> Result<RunResult, String> {
    let mut config = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&args.config)
        .map_err(|e| format!("cannot open {}: {e}", args.config.display()))?;
    let spec = RunSpec::read_from(&mut config).map_err(|e| e.to_string())?;
    // Our mounts must not leak into the host.
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS) failed (run as root): {e}"))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / private: {e}"))?;
    let consoles = Consoles {
        input: Some(dup(std::io::stdin().as_fd())?),
        output: dup(std::io::stdout().as_fd())?,
        errors: Some(dup(std::io::stderr().as_fd())?),
        control: None,
        tty: None,
    };
    let env = Environment {
        layout: Layout::new(&args.work),
        cgroup_root: args.cgroup_root.clone(),
        disks: args.disks.clone(),
        owns_network: false,
    };
    let result = runner::run_spec(&spec, &env, &consoles);
    result
        .write_to(&mut config)
        .map_err(|e| format!("cannot write the result: {e}"))?;
    Ok(result)
}

use std::os::fd::AsFd;

/// `hull-init run ...`; returns the process exit status (the container's).
pub fn main(args: &[String]) -> i32 {
    let parsed = match parse_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match run(&parsed) {
        Ok(result) => result.exit_code,
        Err(e) => {
            eprintln!("hull-init: {e}");
            EXIT_SETUP_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_arguments_parse() {
        let parsed = parse_args(&strings(&[
            "run",
            "--config",
            "c.img",
            "--work",
            "/w",
            "--disk",
            "hull-layer-0=/dev/loop0",
            "--cgroup-root",
            "/cg",
        ]))
        .unwrap();
        assert_eq!(parsed.config, PathBuf::from("c.img"));
        assert_eq!(parsed.disks["hull-layer-0"], PathBuf::from("/dev/loop0"));
        assert_eq!(parsed.cgroup_root, Some(PathBuf::from("/cg")));
    }

    #[test]
    fn bad_arguments_print_usage() {
        assert!(parse_args(&strings(&[])).is_err());
        assert!(parse_args(&strings(&["run", "--disk", "nope"])).is_err());
        assert!(parse_args(&strings(&["run", "--config"])).is_err());
    }
}
