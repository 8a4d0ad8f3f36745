//! Inside the container process, between fork and exec: private mounts, the container's
//! /proc /dev /sys, pivot_root, hostname, identity. Every kernel call goes through
//! [`Syscall`] so the sequence is unit-tested with the recording fake.

use crate::error::SetupError;
use crate::spec::{ContainerPlan, ProcessPlan, TmpfsMount};
use crate::syscall::Syscall;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{makedev, Mode, SFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::LinuxNamespaceType;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Character devices every container gets: (name, major, minor, mode).
const DEVICES: [(&str, u64, u64, u32); 6] = [
    ("null", 1, 3, 0o666),
    ("zero", 1, 5, 0o666),
    ("full", 1, 7, 0o666),
    ("random", 1, 8, 0o666),
    ("urandom", 1, 9, 0o666),
    ("tty", 5, 0, 0o666),
];

/// Symlinks in the container's /dev: (link, target).
const DEV_LINKS: [(&str, &str); 5] = [
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// umask when the spec sets none (Docker's).
const DEFAULT_UMASK: u32 = 0o022;

fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(Errno) -> SetupError {
    let what = what.into();
    move |e| SetupError::sys(what, e)
}

fn mkdir(sys: &dyn Syscall, path: &Path) -> Result<(), SetupError> {
    sys.mkdir_all(path, 0o755)
        .map_err(sys_err(format!("mkdir {}", path.display())))
}

fn mount_fs(
    sys: &dyn Syscall,
    fstype: &str,
    target: &Path,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SetupError> {
    mkdir(sys, target)?;
    sys.mount(Some(Path::new(fstype)), target, Some(fstype), flags, data)
        .map_err(sys_err(format!("mount {fstype} on {}", target.display())))
}

/// Splits mount(8)-style options into flags and the filesystem's data string.
fn split_mount_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for option in options {
        match option.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags -= MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "suid" => flags -= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "dev" => flags -= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "exec" => flags -= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// The container's /dev: a tmpfs with the standard nodes, a private devpts, /dev/shm.
/// `console` is the tty bound to /dev/console in terminal mode.
fn mount_dev(sys: &dyn Syscall, root: &Path, console: Option<&Path>) -> Result<(), SetupError> {
    let dev = inside(root, "/dev");
    mount_fs(
        sys,
        "tmpfs",
        &dev,
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for (name, major, minor, mode) in DEVICES {
        let path = dev.join(name);
        sys.mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(mode),
            makedev(major, minor),
        )
        .map_err(sys_err(format!("mknod {}", path.display())))?;
    }
    for (link, target) in DEV_LINKS {
        sys.symlink(Path::new(target), &dev.join(link))
            .map_err(sys_err(format!("symlink /dev/{link}")))?;
    }
    mount_fs(
        sys,
        "devpts",
        &dev.join("pts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    mkdir(sys, &shm)?;
    sys.mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .map_err(sys_err("mount tmpfs on /dev/shm"))?;
    let console_path = dev.join("console");
    match console {
        Some(tty) => {
            sys.touch(&console_path)
                .map_err(sys_err("create /dev/console"))?;
            sys.mount(Some(tty), &console_path, None, MsFlags::MS_BIND, None)
                .map_err(sys_err(format!("bind {} on /dev/console", tty.display())))?;
        }
        None => sys
            .mknod(
                &console_path,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o600),
                makedev(5, 1),
            )
            .map_err(sys_err("mknod /dev/console"))?,
    }
    Ok(())
}

fn mount_tmpfs(sys: &dyn Syscall, root: &Path, tmpfs: &TmpfsMount) -> Result<(), SetupError> {
    let relative = tmpfs.destination.to_string_lossy();
    if !tmpfs.destination.is_absolute() || relative.split('/').any(|c| c == "..") {
        return Err(SetupError::Spec(format!(
            "tmpfs destination {relative:?} must be absolute without \"..\""
        )));
    }
    let (flags, data) = split_mount_options(&tmpfs.options);
    let target = inside(root, &relative);
    mkdir(sys, &target)?;
    sys.mount(
        Some(Path::new("tmpfs")),
        &target,
        Some("tmpfs"),
        flags,
        Some(data.as_str()).filter(|d| !d.is_empty()),
    )
    .map_err(sys_err(format!("mount tmpfs on {relative}")))
}

/// Mounts the container's /proc, /dev, /sys (read-only) and extra tmpfs under `root`,
/// after making every mount of this (new) mount namespace private.
pub fn prepare_rootfs(
    sys: &dyn Syscall,
    root: &Path,
    plan: &ContainerPlan,
    console: Option<&Path>,
) -> Result<(), SetupError> {
    // Nothing mounted from here on may propagate back to PID 1's namespace (or the host's).
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(sys_err("make / private"))?;
    // mknod's modes must not be masked by PID 1's umask.
    sys.umask(Mode::empty());
    mount_fs(
        sys,
        "proc",
        &inside(root, "/proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    mount_dev(sys, root, console)?;
    mount_fs(
        sys,
        "sysfs",
        &inside(root, "/sys"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    if plan.namespaces.has(LinuxNamespaceType::Ipc) {
        // POSIX message queues of the container's own ipc namespace (best effort, like
        // the cgroup mount below: the kernel may lack CONFIG_POSIX_MQUEUE).
        let target = inside(root, "/dev/mqueue");
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let mounted = mkdir(sys, &target).and_then(|()| {
            sys.mount(
                Some(Path::new("mqueue")),
                &target,
                Some("mqueue"),
                flags,
                None,
            )
            .map_err(sys_err("mount mqueue on /dev/mqueue"))
        });
        if let Err(e) = mounted {
            crate::log!("{e}");
        }
    }
    if plan.namespaces.has(LinuxNamespaceType::Cgroup) {
        // Like Docker: the container sees its own cgroup (the namespace root), read-only.
        // Best effort: a kernel without cgroup2 must not stop the container.
        let target = inside(root, "/sys/fs/cgroup");
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if let Err(e) = sys.mount(
            Some(Path::new("cgroup2")),
            &target,
            Some("cgroup2"),
            flags,
            None,
        ) {
            crate::log!("mount cgroup2 on the container's /sys/fs/cgroup failed: {e}");
        }
    }
    crate::volumes::bind_shares(sys, root, plan)?;
    for tmpfs in &plan.tmpfs {
        mount_tmpfs(sys, root, tmpfs)?;
    }
    Ok(())
}

/// Makes `root` the process's root. pivot_root(".", ".") then detaching the old root
/// (runc's way, no put_old directory written into the image). pivot_root refuses to move
/// away from the initramfs (EINVAL: rootfs cannot be unmounted), so there we move the
/// overlay onto / and chroot, as switch_root does.
pub fn enter_root(sys: &dyn Syscall, root: &Path) -> Result<(), SetupError> {
    sys.chdir(root)
        .map_err(sys_err(format!("chdir {}", root.display())))?;
    let dot = Path::new(".");
    match sys.pivot_root(dot, dot) {
        Ok(()) => {
            sys.umount(dot, MntFlags::MNT_DETACH)
                .map_err(sys_err("detach the old root"))?;
        }
        Err(Errno::EINVAL) => {
            sys.mount(Some(dot), Path::new("/"), None, MsFlags::MS_MOVE, None)
                .map_err(sys_err("move the container root onto /"))?;
            sys.chroot(dot)
                .map_err(sys_err("chroot into the container root"))?;
        }
        Err(e) => return Err(SetupError::sys("pivot_root", e)),
    }
    sys.chdir(Path::new("/")).map_err(sys_err("chdir /"))
}

/// After [`enter_root`], still as root: create a missing working directory (like runc),
/// write `/etc/hostname`, `/etc/hosts` and, with a network, `/etc/resolv.conf` (Docker
/// provides them), then make the root read-only if the spec says so
/// (`docker run --read-only`).
pub fn finish_root(sys: &dyn Syscall, plan: &ContainerPlan) -> Result<(), SetupError> {
    mkdir(sys, &plan.process.cwd)?;
    // Inside the container's root: its own symlinks cannot send the writes elsewhere.
    if let Some(hostname) = &plan.hostname {
        write_etc_file(sys, "/etc/hostname", format!("{hostname}\n").as_bytes());
    }
    let address = plan.network.as_ref().map(|n| n.address);
    let hosts = hosts_file(plan.hostname.as_deref(), &plan.extra_hosts, address);
    write_etc_file(sys, "/etc/hosts", hosts.as_bytes());
    if let Some(network) = &plan.network {
        write_etc_file(sys, "/etc/resolv.conf", network.resolv_conf().as_bytes());
    }
    if plan.readonly_root {
        sys.mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None,
        )
        .map_err(sys_err("remount the root read-only"))?;
    }
    Ok(())
}

/// Docker's /etc/hosts: the localhost lines, the `--add-host` (and link) entries, then the
/// container's own hostname at its `address` (`172.17.0.2\tc0ffee`). Without a network the
/// hostname resolves to 127.0.1.1 (the Debian convention for a host without an address),
/// still inside the container.
pub fn hosts_file(
    hostname: Option<&str>,
    extra_hosts: &[String],
    address: Option<Ipv4Addr>,
) -> String {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for line in extra_hosts {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(hostname) = hostname {
        let address = address.unwrap_or(Ipv4Addr::new(127, 0, 1, 1));
        // Docker's main record: a qualified name (`-h web.example.com`) also answers to its
        // first label.
        match hostname.split_once('.') {
            Some((short, _)) if !short.is_empty() => {
                text.push_str(&format!("{address}\t{hostname} {short}\n"));
            }
            _ => text.push_str(&format!("{address}\t{hostname}\n")),
        }
    }
    text
}

/// Writes `contents` to `path` in the container's /etc before the process starts. Best
/// effort (logged), like Docker's files: an image may have made it something odd.
fn write_etc_file(sys: &dyn Syscall, path: &str, contents: &[u8]) {
    let written = mkdir(sys, Path::new("/etc")).and_then(|()| {
        sys.write_file(Path::new(path), contents)
            .map_err(sys_err(format!("write {path}")))
    });
    if let Err(e) = written {
        crate::log!("{e}");
    }
}

/// Hides `linux.maskedPaths` (an empty read-only tmpfs over directories, /dev/null over
/// files) and makes `linux.readonlyPaths` read-only, as runc does. Paths the kernel does
/// not have are skipped.
pub fn restrict_paths(sys: &dyn Syscall, plan: &ContainerPlan) -> Result<(), SetupError> {
    for path in &plan.masked_paths {
        let result = match sys.mount(
            Some(Path::new("/dev/null")),
            path,
            None,
            MsFlags::MS_BIND,
            None,
        ) {
            Err(Errno::ENOTDIR) => sys.mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
            ),
            other => other,
        };
        match result {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(SetupError::sys(format!("mask {}", path.display()), e)),
        }
    }
    for path in &plan.readonly_paths {
        let result = sys
            .mount(
                Some(path),
                path,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .and_then(|()| {
                sys.mount(
                    Some(path),
                    path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
                    None,
                )
            });
        match result {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(SetupError::sys(
                    format!("make {} read-only", path.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// Hostname, uid/gid/groups, umask, working directory.
pub fn apply_identity(sys: &dyn Syscall, plan: &ContainerPlan) -> Result<(), SetupError> {
    if let Some(hostname) = &plan.hostname {
        sys.sethostname(hostname)
            .map_err(sys_err(format!("sethostname {hostname:?}")))?;
    }
    apply_process_identity(sys, &plan.process)
}

/// The groups a process runs with besides its gid: those the image's /etc/group gives it,
/// else its gid alone, as runc sets them (`id` then shows `groups=0(root)` for `-u 1000`).
fn supplementary_groups(process: &ProcessPlan) -> Vec<Gid> {
    if process.additional_gids.is_empty() {
        return vec![Gid::from_raw(process.gid)];
    }
    process
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect()
}

/// uid/gid/groups, umask, working directory of `process` (also for `hull exec`, which
/// joins the container's uts namespace and so keeps its hostname).
pub fn apply_process_identity(sys: &dyn Syscall, process: &ProcessPlan) -> Result<(), SetupError> {
    if let Some(keep) = process.bounding_capabilities {
        // Before the ids: dropping from the bounding set needs CAP_SETPCAP, and setgroups
        // CAP_SETGID, both still effective here whatever the container keeps. Root's
        // capabilities after exec are the bounding set; another uid gets none (setresuid
        // clears them), as with runc.
        for cap in capabilities_to_drop(keep, sys.last_capability()) {
            sys.drop_bounding_capability(cap).map_err(sys_err(format!(
                "drop capability {cap} from the bounding set"
            )))?;
        }
    }
    let groups = supplementary_groups(process);
    sys.set_ids(
        Uid::from_raw(process.uid),
        Gid::from_raw(process.gid),
        &groups,
    )
    .map_err(sys_err(format!(
        "switch to uid {} gid {} groups {:?}",
        process.uid, process.gid, process.additional_gids
    )))?;
    sys.umask(Mode::from_bits_truncate(
        process.umask.unwrap_or(DEFAULT_UMASK),
    ));
    sys.chdir(&process.cwd)
        .map_err(sys_err(format!("chdir to cwd {}", process.cwd.display())))
}

/// The capability numbers up to `last` that are not in the `keep` mask.
pub fn capabilities_to_drop(keep: u64, last: u32) -> impl Iterator<Item = u32> {
    (0..=last.min(63)).filter(move |cap| keep & (1 << cap) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::fake::{Call, RecordingSyscall};

    fn plan() -> ContainerPlan {
        let spec: oci_spec::runtime::Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","hostname":"box",
                "process":{"args":["sh"],"cwd":"/home/u","user":{"uid":1000,"gid":100,"additionalGids":[5]}},
                "mounts":[{"destination":"/run","type":"tmpfs","source":"tmpfs","options":["nosuid","size=1m"]}]}"#,
        )
        .unwrap();
        ContainerPlan::from_spec(&spec).unwrap()
    }

    #[test]
    fn container_mounts_are_private_then_proc_dev_sys() {
        let sys = RecordingSyscall::default();
        prepare_rootfs(&sys, Path::new("/mnt/root"), &plan(), None).unwrap();
        let mounts = sys.mounts();
        let summary: Vec<_> = mounts
            .iter()
            .map(|(t, fs, _)| {
                (
                    t.to_str().unwrap().to_string(),
                    fs.clone().unwrap_or_default(),
                )
            })
            .collect();
        let expected = [
            ("/", ""),
            ("/mnt/root/proc", "proc"),
            ("/mnt/root/dev", "tmpfs"),
            ("/mnt/root/dev/pts", "devpts"),
            ("/mnt/root/dev/shm", "tmpfs"),
            ("/mnt/root/sys", "sysfs"),
            ("/mnt/root/run", "tmpfs"),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(summary, expected);
        assert_eq!(
            mounts[3].2.as_deref(),
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5")
        );
        assert_eq!(mounts[6].2.as_deref(), Some("size=1m"));
        let calls = sys.calls.borrow();
        assert!(calls.contains(&Call::Mknod("/mnt/root/dev/null".into(), makedev(1, 3))));
        assert!(calls.contains(&Call::Mknod("/mnt/root/dev/console".into(), makedev(5, 1))));
        assert!(calls.contains(&Call::Symlink(
            "pts/ptmx".into(),
            "/mnt/root/dev/ptmx".into()
        )));
        let sysfs_ro = calls.iter().any(|c| {
            matches!(c, Call::Mount { target, flags, .. }
            if target == Path::new("/mnt/root/sys") && flags.contains(MsFlags::MS_RDONLY))
        });
        assert!(sysfs_ro);
    }

    #[test]
    fn terminal_mode_binds_the_tty_on_dev_console() {
        let sys = RecordingSyscall::default();
        prepare_rootfs(&sys, Path::new("/r"), &plan(), Some(Path::new("/dev/hvc0"))).unwrap();
        let calls = sys.calls.borrow();
        assert!(calls.iter().any(|c| matches!(c, Call::Mount { source: Some(s), target, flags, .. }
            if s == Path::new("/dev/hvc0") && target == Path::new("/r/dev/console") && *flags == MsFlags::MS_BIND)));
    }

    #[test]
    fn pivot_root_detaches_the_old_root() {
        let sys = RecordingSyscall::default();
        enter_root(&sys, Path::new("/mnt/root")).unwrap();
        assert_eq!(
            *sys.calls.borrow(),
            vec![
                Call::Chdir("/mnt/root".into()),
                Call::PivotRoot(".".into(), ".".into()),
                Call::Umount(".".into()),
                Call::Chdir("/".into()),
            ]
        );
    }

    #[test]
    fn initramfs_root_falls_back_to_move_and_chroot() {
        let sys = RecordingSyscall {
            pivot_errno: Some(Errno::EINVAL),
            ..Default::default()
        };
        enter_root(&sys, Path::new("/mnt/root")).unwrap();
        let calls = sys.calls.borrow();
        assert!(
            matches!(&calls[2], Call::Mount { target, flags, .. } if target == Path::new("/") && *flags == MsFlags::MS_MOVE)
        );
        assert_eq!(calls[3], Call::Chroot(".".into()));
    }

    #[test]
    fn identity_sets_hostname_then_ids_then_cwd() {
        let sys = RecordingSyscall::default();
        apply_identity(&sys, &plan()).unwrap();
        assert_eq!(
            *sys.calls.borrow(),
            vec![
                Call::Sethostname("box".into()),
                Call::SetIds(1000, 100, vec![5]),
                Call::Umask(0o022),
                Call::Chdir("/home/u".into()),
            ]
        );
    }

    #[test]
    fn a_process_without_supplementary_groups_gets_its_gid_as_runc_gives_it() {
        let sys = RecordingSyscall::default();
        let mut plan = plan();
        plan.process.additional_gids.clear();
        apply_process_identity(&sys, &plan.process).unwrap();
        assert_eq!(sys.calls.borrow()[0], Call::SetIds(1000, 100, vec![100]));
    }

    #[test]
    fn read_only_root_is_remounted_after_creating_cwd_and_hostname() {
        let sys = RecordingSyscall::default();
        let mut plan = plan();
        finish_root(&sys, &plan).unwrap();
        assert_eq!(
            *sys.calls.borrow(),
            vec![
                Call::MkdirAll("/home/u".into()),
                Call::MkdirAll("/etc".into()),
                Call::WriteFile("/etc/hostname".into(), b"box\n".to_vec()),
                Call::MkdirAll("/etc".into()),
                Call::WriteFile(
                    "/etc/hosts".into(),
                    hosts_file(Some("box"), &[], None).into_bytes()
                ),
            ]
        );
        plan.readonly_root = true;
        let sys = RecordingSyscall::default();
        finish_root(&sys, &plan).unwrap();
        let calls = sys.calls.borrow();
        assert!(matches!(&calls[5], Call::Mount { target, flags, .. }
            if target == Path::new("/") && flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT)));
    }

    #[test]
    fn masked_paths_get_dev_null_and_readonly_paths_a_read_only_bind() {
        let sys = RecordingSyscall::default();
        let mut plan = plan();
        plan.masked_paths = vec!["/proc/kcore".into()];
        plan.readonly_paths = vec!["/proc/sys".into()];
        restrict_paths(&sys, &plan).unwrap();
        let calls = sys.calls.borrow();
        assert!(
            matches!(&calls[0], Call::Mount { source: Some(s), target, flags, .. }
            if s == Path::new("/dev/null") && target == Path::new("/proc/kcore") && *flags == MsFlags::MS_BIND)
        );
        assert!(matches!(&calls[2], Call::Mount { target, flags, .. }
            if target == Path::new("/proc/sys") && flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT)));
    }

    #[test]
    fn hosts_file_is_dockers_localhost_lines_then_added_hosts_then_the_hostname() {
        let text = hosts_file(Some("box"), &["10.0.0.5\tdb".into()], None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "127.0.0.1\tlocalhost");
        assert_eq!(lines[1], "::1\tlocalhost ip6-localhost ip6-loopback");
        assert_eq!(lines[6], "10.0.0.5\tdb");
        assert_eq!(lines[7], "127.0.1.1\tbox");
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn capabilities_outside_the_kept_set_leave_the_bounding_set_before_the_ids() {
        let sys = RecordingSyscall::default();
        let mut plan = plan();
        // Docker's default set.
        plan.process.bounding_capabilities = Some(0xa804_25fb);
        apply_process_identity(&sys, &plan.process).unwrap();
        let calls = sys.calls.borrow();
        let dropped: Vec<u32> = calls
            .iter()
            .filter_map(|c| match c {
                Call::DropBoundingCap(cap) => Some(*cap),
                _ => None,
            })
            .collect();
        assert_eq!(
            dropped,
            [
                2, 9, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 28, 30, 32, 33, 34,
                35, 36, 37, 38, 39, 40
            ]
        );
        assert_eq!(calls[dropped.len()], Call::SetIds(1000, 100, vec![5]));
        let sys = RecordingSyscall::default();
        plan.process.bounding_capabilities = None;
        apply_process_identity(&sys, &plan.process).unwrap();
        assert!(
            matches!(sys.calls.borrow()[0], Call::SetIds(..)),
            "no set: nothing dropped"
        );
    }

    #[test]
    fn tmpfs_destination_cannot_escape_the_root() {
        let sys = RecordingSyscall::default();
        let evil = TmpfsMount {
            destination: "/../../etc".into(),
            options: vec![],
        };
        assert!(mount_tmpfs(&sys, Path::new("/r"), &evil).is_err());
    }

    fn networked_plan() -> ContainerPlan {
        let mut plan = plan();
        plan.extra_hosts = vec!["172.17.0.3\tweb 0123456789ab".into()];
        plan.network = Some(hull_protocol::GuestNetwork {
            mac: "02:42:ac:11:00:02".into(),
            address: Ipv4Addr::new(172, 17, 0, 2),
            prefix_len: 16,
            gateway: Some(Ipv4Addr::new(172, 17, 0, 1)),
            mtu: 1500,
            nameservers: vec!["172.17.0.1".parse().unwrap()],
            search: Vec::new(),
            options: vec!["ndots:0".into()],
        });
        plan
    }

    #[test]
    fn with_a_network_the_hostname_line_is_the_containers_address_after_the_links() {
        let text = hosts_file(
            Some("c0ffee"),
            &["172.17.0.3\tweb 0123456789ab".into()],
            Some(Ipv4Addr::new(172, 17, 0, 2)),
        );
        assert_eq!(
            text,
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n172.17.0.3\tweb 0123456789ab\n172.17.0.2\tc0ffee\n"
        );
    }

    #[test]
    fn a_qualified_hostname_also_answers_to_its_first_label_as_in_docker() {
        let text = hosts_file(
            Some("web.example.com"),
            &[],
            Some(Ipv4Addr::new(172, 17, 0, 2)),
        );
        assert!(
            text.ends_with("\n172.17.0.2\tweb.example.com web\n"),
            "{text}"
        );
    }

    #[test]
    fn with_a_network_hosts_and_resolv_conf_are_written_before_the_root_turns_read_only() {
        let mut plan = networked_plan();
        plan.readonly_root = true;
        let sys = RecordingSyscall::default();
        finish_root(&sys, &plan).unwrap();
        let calls = sys.calls.borrow();
        let written: Vec<(String, String)> = calls
            .iter()
            .filter_map(|c| match c {
                Call::WriteFile(path, data) => Some((
                    path.display().to_string(),
                    String::from_utf8(data.clone()).unwrap(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(written.len(), 3, "{written:?}");
        assert_eq!(written[0], ("/etc/hostname".into(), "box\n".into()));
        assert_eq!(written[1].0, "/etc/hosts");
        assert!(
            written[1]
                .1
                .ends_with("172.17.0.3\tweb 0123456789ab\n172.17.0.2\tbox\n"),
            "{}",
            written[1].1
        );
        assert_eq!(
            written[2],
            (
                "/etc/resolv.conf".into(),
                "nameserver 172.17.0.1\noptions ndots:0\n".into()
            )
        );
        assert!(
            matches!(calls.last(), Some(Call::Mount { flags, .. }) if flags.contains(MsFlags::MS_RDONLY)),
            "the read-only remount comes last"
        );
    }

    #[test]
    fn without_a_network_no_resolv_conf_is_written() {
        let sys = RecordingSyscall::default();
        finish_root(&sys, &plan()).unwrap();
        let wrote_resolv = sys.calls.borrow().iter().any(
            |c| matches!(c, Call::WriteFile(path, _) if path == Path::new("/etc/resolv.conf")),
        );
        assert!(!wrote_resolv);
    }
}
