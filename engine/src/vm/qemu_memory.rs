//! Guest RAM of QEMU's warm-start VMs (issue 19): a zygote boots with its RAM in a file of
//! its own directory, mapped shared, and is saved with the `x-ignore-shared` migration
//! capability, so the saved stream holds only device state and the file is the memory.
//! Every restore maps that file privately (copy-on-write), as Kata's VM templating does:
//! the pages a container does not write stay one copy in the host's page cache, shared by
//! all restores of the zygote, instead of each restore loading its own.
//!
//! QEMU 7.2 (Debian 12) discards guest pages (free page reporting, issue 22) by punching a
//! hole in a file-backed RAM's file before dropping its mapping, also when the mapping is
//! private: one restore would zero the zygote's pages under every other. A restored QEMU
//! therefore runs under a seccomp filter that turns `fallocate(FALLOC_FL_PUNCH_HOLE)` into
//! a no-op reporting success, so a discard only drops the restore's own copies of the pages
//! (what QEMU >= 8.2 does for private mappings) and the zygote's file is never written. Its
//! disks have QEMU's default `discard=ignore`, so QEMU never punches their files either.
//!
//! QEMU 7.2 has no command-line switch for the capability: the zygote sets it over QMP
//! before `migrate`, and a restore starts with `-incoming defer`, sets it and then starts
//! the incoming migration from the state file ([`start_incoming`]).

use super::qmp::{qmp_socket, QmpClient};
use super::VmSpec;
use anyhow::{Context, Result};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use serde_json::json;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// QEMU arguments for `spec`'s guest RAM when it is not anonymous memory (QEMU's default):
/// the `-object` backend, named `ram` (which `-M microvm,memory-backend=ram` uses), or None.
pub fn backend_args(spec: &VmSpec) -> Option<Vec<String>> {
    let object = if let Some(zygote) = &spec.restore {
        file_backend(spec.mem_mib, &zygote.memory(), false)
    } else if let Some(memory) = &spec.zygote_memory {
        file_backend(spec.mem_mib, memory, true)
    } else if spec.share.is_some() {
        // vhost-user-fs: virtiofsd reads and writes the guest's queues itself, so guest
        // RAM is a shared memfd it can map.
        return Some(vec![
            "-object".into(),
            format!(
                "memory-backend-memfd,id=ram,size={}M,share=on",
                spec.mem_mib
            ),
        ]);
    } else {
        return None;
    };
    Some(vec!["-object".into(), object])
}

/// The migration capability both sides need (it also changes the stream's layout).
pub fn ignore_shared_memory(qmp: &mut QmpClient) -> Result<()> {
    qmp.execute_with(
        "migrate-set-capabilities",
        Some(json!({ "capabilities": [{ "capability": "x-ignore-shared", "state": true }] })),
    )
    .context("QEMU cannot leave shared memory out of its saved state")?;
    Ok(())
}

/// A restoring QEMU (`-incoming defer`, its consoles connected): loads the saved state from
/// `state_fd`, its own file descriptor.
pub fn start_incoming(spec: &VmSpec, state_fd: RawFd) -> Result<()> {
    let mut qmp = QmpClient::connect(&qmp_socket(&spec.socket_dir))?;
    ignore_shared_memory(&mut qmp)?;
    qmp.execute_with(
        "migrate-incoming",
        Some(json!({ "uri": format!("fd:{state_fd}") })),
    )
    .context("QEMU cannot load the zygote's state")?;
    Ok(())
}

fn file_backend(mem_mib: u64, path: &Path, shared: bool) -> String {
    format!(
        "memory-backend-file,id=ram,size={mem_mib}M,mem-path={},share={}",
        super::qemu::qemu_escape(path),
        if shared { "on" } else { "off" }
    )
}

/// Makes `command` (a restoring QEMU) start under the filter the module doc describes.
pub fn forbid_punching_holes(command: &mut Command) -> Result<()> {
    let filter = punch_hole_filter()?;
    // SAFETY: the closure runs between fork and exec; it only makes the two system calls
    // that install the already compiled filter (prctl, seccomp), allocating nothing.
    unsafe {
        command.pre_exec(move || seccompiler::apply_filter(&filter).map_err(std::io::Error::other));
    }
    Ok(())
}

/// `fallocate(fd, mode, ...)` with FALLOC_FL_PUNCH_HOLE in `mode` returns 0 and does
/// nothing; every other system call runs.
fn punch_hole_filter() -> Result<BpfProgram> {
    let punch_hole = libc::FALLOC_FL_PUNCH_HOLE as u64;
    let rule = SeccompRule::new(vec![SeccompCondition::new(
        1,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(punch_hole),
        punch_hole,
    )?])?;
    let filter = SeccompFilter::new(
        [(libc::SYS_fallocate, vec![rule])].into_iter().collect(),
        SeccompAction::Allow,
        // errno 0: the call "succeeds".
        SeccompAction::Errno(0),
        std::env::consts::ARCH
            .try_into()
            .context("no seccomp support for this architecture")?,
    )?;
    Ok(filter.try_into()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// The filter, installed in a child process: punching a hole there reports success and
    /// leaves the file's bytes, while other fallocate modes still work.
    #[test]
    fn a_filtered_process_cannot_punch_holes_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&[0xa5; 8192]).unwrap();
        let filter = punch_hole_filter().unwrap();
        // A forked child installs the filter (it would stay on this test thread otherwise).
        // SAFETY: the child only makes system calls and exits.
        let child = unsafe { libc::fork() };
        assert!(child >= 0);
        if child == 0 {
            let punched = seccompiler::apply_filter(&filter).is_ok()
                // SAFETY: a valid fd and range.
                && unsafe {
                    libc::fallocate(
                        file.as_raw_fd(),
                        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                        0,
                        4096,
                    )
                } == 0
                // SAFETY: as above; growing the file still works.
                && unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, 16384) } == 0;
            // SAFETY: leaves the child without running the test harness's exit handlers.
            unsafe { libc::_exit(if punched { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 16384);
        assert!(
            bytes[..8192].iter().all(|&b| b == 0xa5),
            "the hole was punched"
        );
    }
}
