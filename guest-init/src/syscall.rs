//! The kernel calls the container setup makes, behind a trait so unit tests can record them
//! (the youki `Syscall` / `TestHelperSyscall` pattern).

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use std::path::Path;

/// The system calls of the container setup path.
pub trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    /// umount2(2).
    fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
    /// unshare(2).
    fn unshare(&self, flags: CloneFlags) -> Result<(), Errno>;
    /// pivot_root(2).
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno>;
    /// chroot(2).
    fn chroot(&self, path: &Path) -> Result<(), Errno>;
    /// chdir(2).
    fn chdir(&self, path: &Path) -> Result<(), Errno>;
    /// mkdir -p with `mode` for the directories it creates.
    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), Errno>;
    /// mknod(2).
    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<(), Errno>;
    /// symlink(2); an existing link is left alone.
    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno>;
    /// Creates an empty regular file (a bind-mount target) if absent.
    fn touch(&self, path: &Path) -> Result<(), Errno>;
    /// sethostname(2).
    fn sethostname(&self, name: &str) -> Result<(), Errno>;
    /// setgroups(2), setresgid(2), setresuid(2), in that order (dropping uid last).
    fn set_ids(&self, uid: Uid, gid: Gid, groups: &[Gid]) -> Result<(), Errno>;
    /// umask(2).
    fn umask(&self, mask: Mode);
    /// Replaces the contents of the file `path` (created with mode 0644) with `contents`.
    fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), Errno>;
    /// The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).
    fn last_capability(&self) -> u32;
    /// prctl(PR_CAPBSET_DROP): the process and what it execs can never have `cap` again.
    fn drop_bounding_capability(&self, cap: u32) -> Result<(), Errno>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

impl Syscall for LinuxSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }

    fn unshare(&self, flags: CloneFlags) -> Result<(), Errno> {
        nix::sched::unshare(flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chdir(path)
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), Errno> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<(), Errno> {
        match nix::sys::stat::mknod(path, kind, perm, dev) {
            Err(Errno::EEXIST) => Ok(()),
            other => other,
        }
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno> {
        match nix::unistd::symlinkat(target, nix::fcntl::AT_FDCWD, link) {
            Err(Errno::EEXIST) => Ok(()),
            other => other,
        }
    }

    fn touch(&self, path: &Path) -> Result<(), Errno> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        nix::unistd::sethostname(name)
    }

    fn set_ids(&self, uid: Uid, gid: Gid, groups: &[Gid]) -> Result<(), Errno> {
        nix::unistd::setgroups(groups)?;
        nix::unistd::setresgid(gid, gid, gid)?;
        nix::unistd::setresuid(uid, uid, uid)
    }

    fn umask(&self, mask: Mode) {
        nix::sys::stat::umask(mask);
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), Errno> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)
            .and_then(|mut file| file.write_all(contents))
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    fn last_capability(&self) -> u32 {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            // Linux 5.9's CAP_CHECKPOINT_RESTORE; unknown numbers fail with EINVAL anyway.
            .unwrap_or(40)
    }

    fn drop_bounding_capability(&self, cap: u32) -> Result<(), Errno> {
        // SAFETY: PR_CAPBSET_DROP takes an integer and touches no memory of ours.
        let result =
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        Errno::result(result).map(drop)
    }
}

/// A recording fake for unit tests: remembers every call, answers from a script.
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::cell::RefCell;
    use std::path::PathBuf;

    /// One recorded call.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Call {
        Mount {
            source: Option<PathBuf>,
            target: PathBuf,
            fstype: Option<String>,
            flags: MsFlags,
            data: Option<String>,
        },
        Umount(PathBuf),
        Unshare(CloneFlags),
        PivotRoot(PathBuf, PathBuf),
        Chroot(PathBuf),
        Chdir(PathBuf),
        MkdirAll(PathBuf),
        Mknod(PathBuf, u64),
        Symlink(PathBuf, PathBuf),
        Touch(PathBuf),
        Sethostname(String),
        SetIds(u32, u32, Vec<u32>),
        Umask(u32),
        WriteFile(PathBuf, Vec<u8>),
        DropBoundingCap(u32),
    }

    /// Records calls; `pivot_root` fails with `pivot_errno` when set (to exercise the rootfs
    /// fallback).
    #[derive(Default)]
    pub struct RecordingSyscall {
        pub calls: RefCell<Vec<Call>>,
        pub pivot_errno: Option<Errno>,
    }

    impl RecordingSyscall {
        fn push(&self, call: Call) {
            self.calls.borrow_mut().push(call);
        }

        /// The recorded mounts' targets and fstypes, in order.
        pub fn mounts(&self) -> Vec<(PathBuf, Option<String>, Option<String>)> {
            self.calls
                .borrow()
                .iter()
                .filter_map(|c| match c {
                    Call::Mount {
                        target,
                        fstype,
                        data,
                        ..
                    } => Some((target.clone(), fstype.clone(), data.clone())),
                    _ => None,
                })
                .collect()
        }
    }

    impl Syscall for RecordingSyscall {
        fn mount(
            &self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> Result<(), Errno> {
            self.push(Call::Mount {
                source: source.map(Path::to_path_buf),
                target: target.to_path_buf(),
                fstype: fstype.map(str::to_string),
                flags,
                data: data.map(str::to_string),
            });
            Ok(())
        }
        fn umount(&self, target: &Path, _flags: MntFlags) -> Result<(), Errno> {
            self.push(Call::Umount(target.to_path_buf()));
            Ok(())
        }
        fn unshare(&self, flags: CloneFlags) -> Result<(), Errno> {
            self.push(Call::Unshare(flags));
            Ok(())
        }
        fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
            self.push(Call::PivotRoot(new_root.into(), put_old.into()));
            self.pivot_errno.map_or(Ok(()), Err)
        }
        fn chroot(&self, path: &Path) -> Result<(), Errno> {
            self.push(Call::Chroot(path.into()));
            Ok(())
        }
        fn chdir(&self, path: &Path) -> Result<(), Errno> {
            self.push(Call::Chdir(path.into()));
            Ok(())
        }
        fn mkdir_all(&self, path: &Path, _mode: u32) -> Result<(), Errno> {
            self.push(Call::MkdirAll(path.into()));
            Ok(())
        }
        fn mknod(&self, path: &Path, _kind: SFlag, _perm: Mode, dev: u64) -> Result<(), Errno> {
            self.push(Call::Mknod(path.into(), dev));
            Ok(())
        }
        fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno> {
            self.push(Call::Symlink(target.into(), link.into()));
            Ok(())
        }
        fn touch(&self, path: &Path) -> Result<(), Errno> {
            self.push(Call::Touch(path.into()));
            Ok(())
        }
        fn sethostname(&self, name: &str) -> Result<(), Errno> {
            self.push(Call::Sethostname(name.into()));
            Ok(())
        }
        fn set_ids(&self, uid: Uid, gid: Gid, groups: &[Gid]) -> Result<(), Errno> {
            self.push(Call::SetIds(
                uid.as_raw(),
                gid.as_raw(),
                groups.iter().map(|g| g.as_raw()).collect(),
            ));
            Ok(())
        }
        fn umask(&self, mask: Mode) {
            self.push(Call::Umask(mask.bits()));
        }
        fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), Errno> {
            self.push(Call::WriteFile(path.into(), contents.to_vec()));
            Ok(())
        }
        fn last_capability(&self) -> u32 {
            40
        }
        fn drop_bounding_capability(&self, cap: u32) -> Result<(), Errno> {
            self.push(Call::DropBoundingCap(cap));
            Ok(())
        }
    }
}
