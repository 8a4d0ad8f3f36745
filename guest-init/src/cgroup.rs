//! The container's cgroup: limits from `linux.resources`, membership, OOM detection.
//! cgroup v2 only (the guest kernel's hierarchy); the trait keeps room for others.

use crate::error::SetupError;
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

/// Where the guest mounts the cgroup2 hierarchy.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Controllers the container's limits need.
const CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// A container cgroup.
pub trait CgroupManager {
    /// Writes the limits of `resources`.
    fn apply(&self, resources: &LinuxResources) -> Result<(), SetupError>;
    /// Moves the calling process into the cgroup (run by the container process itself,
    /// before it unshares its cgroup namespace).
    fn add_self(&self) -> Result<(), SetupError>;
    /// Whether the kernel's OOM killer killed a process of this cgroup.
    fn oom_killed(&self) -> bool;
    /// The cgroup's directory, if it is a real one PID 1 can watch.
    fn dir(&self) -> Option<&Path> {
        None
    }
}

/// A cgroup frozen (`cgroup.freeze`) until dropped: `hull commit` reads the container's
/// changes while its processes cannot write.
pub struct Frozen {
    dir: PathBuf,
}

impl Frozen {
    /// Freezes the cgroup at `dir` and waits (briefly) until the kernel says it is frozen;
    /// a cgroup that cannot be frozen is read as it is.
    pub fn new(dir: &Path) -> Self {
        let frozen = Self {
            dir: dir.to_path_buf(),
        };
        if std::fs::write(dir.join("cgroup.freeze"), "1").is_ok() {
            for _ in 0..100 {
                let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
                if events.lines().any(|line| line == "frozen 1") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        frozen
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.freeze"), "0");
    }
}

/// A cgroup v2 directory.
#[derive(Debug, Clone)]
pub struct CgroupV2 {
    path: PathBuf,
}

/// A cgroup name from a container id: no path separators, no dots (hostile ids).
fn cgroup_name(container_id: &str) -> String {
    let name: String = container_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    if name.is_empty() {
        "container".into()
    } else {
        name
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), SetupError> {
    std::fs::write(path, value).map_err(|e| SetupError::io("cannot write", path, e))
}

/// cgroup v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000), the formula runc and
/// the kernel documentation use.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

impl CgroupV2 {
    /// Creates `<root>/<container id>` and enables the cpu, memory and pids controllers for
    /// it in `root` (each on its own: one missing controller must not block the others).
    pub fn create(root: &Path, container_id: &str) -> Result<Self, SetupError> {
        let available = std::fs::read_to_string(root.join("cgroup.controllers")).map_err(|e| {
            SetupError::io(
                "cgroup v2 is not mounted: cannot read",
                root.join("cgroup.controllers"),
                e,
            )
        })?;
        for controller in CONTROLLERS {
            if available.split_whitespace().any(|c| c == controller) {
                write_file(
                    &root.join("cgroup.subtree_control"),
                    &format!("+{controller}"),
                )?;
            }
        }
        let path = root.join(cgroup_name(container_id));
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(SetupError::io("cannot create cgroup", &path, e)),
        }
        Ok(Self { path })
    }

    /// An existing cgroup directory (tests).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn set(&self, file: &str, value: &str) -> Result<(), SetupError> {
        let path = self.path.join(file);
        if !path.exists() {
            return Err(SetupError::Spec(format!(
                "the spec sets a limit but {} does not exist: the guest kernel lacks that cgroup controller",
                path.display()
            )));
        }
        write_file(&path, value)
    }
}

impl CgroupManager for CgroupV2 {
    fn apply(&self, resources: &LinuxResources) -> Result<(), SetupError> {
        if let Some(memory) = resources.memory() {
            if let Some(limit) = memory.limit() {
                let max = if limit > 0 {
                    limit.to_string()
                } else {
                    "max".into()
                };
                self.set("memory.max", &max)?;
                // OCI's swap is memory+swap; v2's swap.max is swap alone.
                if let Some(swap) = memory.swap() {
                    let swap_max = match (limit, swap) {
                        (_, -1) => Some("max".to_string()),
                        (l, s) if l > 0 && s >= l => Some((s - l).to_string()),
                        _ => None,
                    };
                    if let (Some(value), true) =
                        (swap_max, self.path.join("memory.swap.max").exists())
                    {
                        self.set("memory.swap.max", &value)?;
                    }
                }
            }
            // `--memory-reservation`: the soft limit, memory.low as runc maps it.
            if let Some(reservation) = memory.reservation().filter(|r| *r > 0) {
                self.set("memory.low", &reservation.to_string())?;
            }
            // memory.oom.group stays 0, as runc leaves it: the OOM killer kills the process
            // that ran out (`sort`), the rest of the container goes on (the shell prints
            // `sort=137`), as on Docker. With 1 the whole container died on any OOM.
        }
        if let Some(cpu) = resources.cpu() {
            if cpu.quota().is_some() || cpu.period().is_some() {
                let period = cpu.period().unwrap_or(100_000);
                let quota = match cpu.quota() {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".into(),
                };
                self.set("cpu.max", &format!("{quota} {period}"))?;
            }
            if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
                self.set("cpu.weight", &shares_to_weight(shares).to_string())?;
            }
        }
        if let Some(pids) = resources.pids() {
            let max = if pids.limit() > 0 {
                pids.limit().to_string()
            } else {
                "max".into()
            };
            self.set("pids.max", &max)?;
        }
        Ok(())
    }

    fn add_self(&self) -> Result<(), SetupError> {
        // "0" means the writing process; its pid in a new pid namespace would be wrong.
        write_file(&self.path.join("cgroup.procs"), "0")
    }

    fn dir(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn oom_killed(&self) -> bool {
        std::fs::read_to_string(self.path.join("memory.events"))
            .map(|events| oom_kills(&events) > 0)
            .unwrap_or(false)
    }
}

/// Whether the container's main process died of the OOM killer: it ended by SIGKILL and
/// the OOM killer killed something of the container meanwhile (`oom_kill_seen`). A child's
/// OOM kill alone does not count, as on Docker. (Sending SIGKILL to the main process while
/// a child is OOM-killed would count too; the kernel names its victim only in the log.)
pub fn main_process_oom_killed(status: &nix::sys::wait::WaitStatus, oom_kill_seen: bool) -> bool {
    oom_kill_seen
        && matches!(
            status,
            nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
        )
}

/// The system-wide OOM kill count (`oom_kill` of /proc/vmstat; 0 if unreadable). In the
/// guest the container is the only workload, so a rise while it ran is its OOM kill even
/// without a container cgroup.
pub fn system_oom_kills() -> u64 {
    std::fs::read_to_string("/proc/vmstat")
        .map(|vmstat| oom_kills(&vmstat))
        .unwrap_or(0)
}

/// The `oom_kill` counter of a memory.events (or /proc/vmstat) file.
pub fn oom_kills(events: &str) -> u64 {
    events
        .lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("cgroup.subtree_control"), "").unwrap();
        dir
    }

    fn with_files(cg: &CgroupV2) {
        for f in [
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "memory.oom.group",
            "cpu.max",
            "cpu.weight",
            "pids.max",
            "cgroup.procs",
        ] {
            std::fs::write(cg.path().join(f), "").unwrap();
        }
    }

    fn read(cg: &CgroupV2, f: &str) -> String {
        std::fs::read_to_string(cg.path().join(f)).unwrap()
    }

    #[test]
    fn limits_are_written_in_v2_syntax() {
        let root = fake_root();
        let cg = CgroupV2::create(root.path(), "../../evil").unwrap();
        assert_eq!(cg.path(), root.path().join("evil"));
        with_files(&cg);
        let resources: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":67108864,"swap":134217728,"reservation":33554432},"cpu":{"quota":50000,"period":100000,"shares":1024},"pids":{"limit":64}}"#,
        )
        .unwrap();
        cg.apply(&resources).unwrap();
        assert_eq!(read(&cg, "memory.max"), "67108864");
        assert_eq!(read(&cg, "memory.swap.max"), "67108864");
        assert_eq!(read(&cg, "memory.low"), "33554432");
        assert_eq!(read(&cg, "memory.oom.group"), "", "oom.group is left alone");
        assert_eq!(read(&cg, "cpu.max"), "50000 100000");
        assert_eq!(read(&cg, "cpu.weight"), "39");
        assert_eq!(read(&cg, "pids.max"), "64");
        cg.add_self().unwrap();
        assert_eq!(read(&cg, "cgroup.procs"), "0");
    }

    #[test]
    fn unlimited_values_become_max() {
        let root = fake_root();
        let cg = CgroupV2::create(root.path(), "c1").unwrap();
        with_files(&cg);
        let resources: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":-1},"pids":{"limit":0},"cpu":{"period":50000}}"#,
        )
        .unwrap();
        cg.apply(&resources).unwrap();
        assert_eq!(read(&cg, "memory.max"), "max");
        assert_eq!(read(&cg, "pids.max"), "max");
        assert_eq!(read(&cg, "cpu.max"), "max 50000");
    }

    #[test]
    fn missing_controller_file_is_a_clear_error() {
        let root = fake_root();
        let cg = CgroupV2::create(root.path(), "c2").unwrap();
        let resources: LinuxResources = serde_json::from_str(r#"{"pids":{"limit":5}}"#).unwrap();
        let err = cg.apply(&resources).unwrap_err();
        assert!(
            err.to_string().contains("lacks that cgroup controller"),
            "{err}"
        );
    }

    #[test]
    fn system_oom_counter_is_readable() {
        // Whatever its value, reading /proc/vmstat works and parses (kernel >= 4.13).
        let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap();
        assert!(vmstat.lines().any(|l| l.starts_with("oom_kill ")));
        assert_eq!(oom_kills("nr_free_pages 5\noom_kill 3\n"), 3);
        let _ = system_oom_kills();
    }

    #[test]
    fn only_a_main_process_killed_by_sigkill_is_oom_killed() {
        use nix::sys::signal::Signal;
        use nix::sys::wait::WaitStatus;
        use nix::unistd::Pid;
        let pid = Pid::from_raw(7);
        let killed = WaitStatus::Signaled(pid, Signal::SIGKILL, false);
        assert!(main_process_oom_killed(&killed, true));
        assert!(!main_process_oom_killed(&killed, false), "plain kill -9");
        // `sh -c 'big | sort; echo sort=$?'`: sort was killed, sh exits normally.
        assert!(!main_process_oom_killed(&WaitStatus::Exited(pid, 0), true));
        assert!(!main_process_oom_killed(
            &WaitStatus::Exited(pid, 137),
            true
        ));
        let term = WaitStatus::Signaled(pid, Signal::SIGTERM, false);
        assert!(!main_process_oom_killed(&term, true));
    }

    #[test]
    fn oom_kill_counter_is_read_from_memory_events() {
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n"), 2);
        assert_eq!(oom_kills("oom 0\noom_kill 0\n"), 0);
        assert_eq!(oom_kills("garbage"), 0);
        let root = fake_root();
        let cg = CgroupV2::create(root.path(), "c3").unwrap();
        assert!(!cg.oom_killed());
        std::fs::write(cg.path().join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
        assert!(cg.oom_killed());
    }

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
    }

    #[test]
    fn controllers_are_enabled_one_by_one() {
        let root = fake_root();
        CgroupV2::create(root.path(), "c4").unwrap();
        // A regular file keeps only the last write: each controller got its own write.
        assert_eq!(
            std::fs::read_to_string(root.path().join("cgroup.subtree_control")).unwrap(),
            "+pids"
        );
    }
}
