//! What a warm-pool VM undoes after its rehearsal (see `hull_protocol::warm`): every file
//! system the rehearsal mounted, and the pid namespace PID 1 made for its children.

use std::path::{Path, PathBuf};

/// Unmounts everything under `work_dir` and the cgroup2 mount at `cgroup_root` (deepest
/// first), then points PID 1's next children back at its own pid namespace. An unmount that
/// fails is an error: a file system left mounted keeps its superblock, which the container
/// handed over next would get again for the same disk slot.
pub fn clean_up(work_dir: &Path, cgroup_root: &Path) -> Result<(), String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    for point in mounts_to_undo(&mountinfo, work_dir, cgroup_root) {
        nix::mount::umount2(&point, nix::mount::MntFlags::empty())
            .map_err(|e| format!("cannot unmount {}: {e}", point.display()))?;
    }
    let own = std::fs::File::open("/proc/self/ns/pid")
        .map_err(|e| format!("cannot open /proc/self/ns/pid: {e}"))?;
    // unshare(CLONE_NEWPID) made the rehearsal's pid namespace the one for PID 1's next
    // children, and a second unshare is refused (EINVAL) until that is undone.
    nix::sched::setns(own, nix::sched::CloneFlags::CLONE_NEWPID)
        .map_err(|e| format!("cannot return to PID 1's pid namespace: {e}"))
}

/// The mount points in `mountinfo` at or under `work_dir`, and `cgroup_root`, in the order
/// they must be unmounted (the reverse of mounting).
fn mounts_to_undo(mountinfo: &str, work_dir: &Path, cgroup_root: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape(point)))
        .filter(|point| point.starts_with(work_dir) || point == cgroup_root)
        .collect();
    points.reverse();
    points
}

/// Mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes.get(index + 1..index + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[index], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                index += 4;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rehearsals_mounts_go_and_the_deepest_first() {
        let mountinfo = "\
22 1 0:20 / /proc rw - proc proc rw
23 1 0:21 / /sys rw - sysfs sysfs rw
30 1 254:1 / /mnt/layer0 ro - erofs /dev/vdb ro
31 1 254:2 / /mnt/rw rw - ext4 /dev/vdc rw
32 1 0:30 / /mnt/root rw - overlay overlay rw
33 32 0:31 / /mnt/root/with\\040space rw - tmpfs tmpfs rw
34 23 0:32 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
35 1 0:33 / /mntx rw - tmpfs tmpfs rw
";
        let points = mounts_to_undo(mountinfo, Path::new("/mnt"), Path::new("/sys/fs/cgroup"));
        let expected: Vec<PathBuf> = [
            "/sys/fs/cgroup",
            "/mnt/root/with space",
            "/mnt/root",
            "/mnt/rw",
            "/mnt/layer0",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(points, expected);
    }
}
