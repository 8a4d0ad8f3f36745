//! PID 1's guard against a container thrashing at its memory limit.
//!
//! Why: with no swap, the memory cgroup's limit reclaim can only take the container's page
//! cache, which is mostly its own executables (busybox, libc) read from the layer disks. It
//! evicts them, the running processes fault them straight back in, and because every round
//! "made progress" the kernel keeps retrying instead of calling the OOM killer (it gives up
//! only after 16 rounds that reclaim nothing). Natively that lasts milliseconds; in a VM each
//! refault is a virtio-blk read, and under TCG it lasted 15 s to 3 minutes here (issue 22:
//! `memory.stat` showed 4297 file refaults for a page cache of ~1.7 MiB in 2 s).
//!
//! What: PID 1 watches the container's `memory.events` (the kernel notifies every time the
//! usage hits `memory.max`). While that keeps happening it samples `memory.stat` every
//! [`WINDOW_MS`]; when the container's anonymous memory fills the limit and its page cache is
//! being read back in ([`Thresholds`]), the kernel would only kill later: PID 1 kills now, the
//! process with the highest `/proc/PID/oom_score` in the cgroup (the kernel's own victim
//! choice, `oom_score_adj` included), and says so on the VM log. The rest of the container
//! goes on, as with Docker's OOM killer.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Sampling period while the cgroup keeps hitting its limit.
pub const WINDOW_MS: u64 = 250;

/// When a window counts as thrashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// File pages read back in (`workingset_refault_file`) within one window.
    pub refaults: u64,
    /// Anonymous memory, in percent of the limit: below it, reclaiming page cache is normal
    /// work (a container streaming files through a small limit), not thrashing.
    pub anon_percent: u64,
}

/// 32 refaults (128 KiB) in 250 ms with anon >= 90 % of the limit. The case of issue 22
/// refaulted ~500 pages per window.
pub const THRESHOLDS: Thresholds = Thresholds {
    refaults: 32,
    anon_percent: 90,
};

/// What the cgroup's files said at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// Milliseconds on a monotonic clock.
    pub at_ms: u64,
    /// `max` of memory.events: times the usage hit the limit.
    pub max_events: u64,
    /// `workingset_refault_file` of memory.stat.
    pub refaults: u64,
    /// `anon` of memory.stat, bytes.
    pub anon: u64,
    /// memory.max in bytes (`None`: no limit).
    pub limit: Option<u64>,
}

/// What to do after a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not at the limit: sleep until memory.events changes.
    Calm,
    /// At the limit: sample again after [`WINDOW_MS`].
    Watch,
    /// Thrashing: kill a process now.
    Kill,
}

/// The pure decision over successive samples.
#[derive(Debug, Default)]
pub struct ThrashDetector {
    window_start: Option<Sample>,
}

impl ThrashDetector {
    /// Feeds one sample.
    pub fn observe(&mut self, now: Sample, thresholds: Thresholds) -> Verdict {
        let Some(limit) = now.limit.filter(|l| *l > 0) else {
            self.window_start = None;
            return Verdict::Calm;
        };
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            return Verdict::Watch;
        };
        if now.at_ms.saturating_sub(start.at_ms) < WINDOW_MS {
            return Verdict::Watch;
        }
        // The window is over: judge it, then start the next one here.
        self.window_start = Some(now);
        if now.max_events <= start.max_events {
            self.window_start = None;
            return Verdict::Calm;
        }
        let refaulted = now.refaults.saturating_sub(start.refaults);
        let anon_full =
            u128::from(now.anon) * 100 >= u128::from(limit) * u128::from(thresholds.anon_percent);
        if refaulted >= thresholds.refaults && anon_full {
            self.window_start = None;
            Verdict::Kill
        } else {
            Verdict::Watch
        }
    }
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
pub fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// memory.max's value: bytes, or `None` for "max".
pub fn parse_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Among `(pid, oom_score)`, the kernel's victim: the highest score, the newest pid on ties.
/// Score 0 (oom_score_adj -1000, or nothing charged) is never chosen.
pub fn choose_victim(candidates: &[(i32, u64)]) -> Option<i32> {
    candidates
        .iter()
        .filter(|(_, score)| *score > 0)
        .max_by_key(|(pid, score)| (*score, *pid))
        .map(|(pid, _)| *pid)
}

/// The guard of one container cgroup, driven from PID 1's poll loop.
#[derive(Debug)]
pub struct MemoryGuard {
    dir: PathBuf,
    events: File,
    detector: ThrashDetector,
    watching: bool,
    /// Processes this guard killed.
    pub killed: Vec<i32>,
}

impl MemoryGuard {
    /// A guard for the cgroup at `dir`, if it has a memory limit to guard.
    pub fn open(dir: &Path) -> Option<Self> {
        let limit = std::fs::read_to_string(dir.join("memory.max")).ok()?;
        parse_limit(&limit)?;
        let events = File::open(dir.join("memory.events")).ok()?;
        Some(Self {
            dir: dir.to_path_buf(),
            events,
            detector: ThrashDetector::default(),
            watching: false,
            killed: Vec::new(),
        })
    }

    /// The fd to poll for POLLPRI (the kernel's "memory.events changed").
    pub fn poll_fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }

    /// How long the poll loop may sleep: a window while watching, else until notified.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.watching.then_some(WINDOW_MS)
    }

    /// Samples the cgroup and acts: call on a memory.events notification and when
    /// [`timeout_ms`](Self::timeout_ms) ran out.
    pub fn check(&mut self, now_ms: u64) {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        // Read through the polled fd itself: that is what re-arms its notification (a
        // kernfs fd stays "changed" until it is read again, and poll would spin).
        let mut buf = [0u8; 512];
        let n = self.events.read_at(&mut buf, 0).unwrap_or(0);
        let events = String::from_utf8_lossy(&buf[..n]).into_owned();
        let stat = read("memory.stat");
        let sample = Sample {
            at_ms: now_ms,
            max_events: field(&events, "max").unwrap_or(0),
            refaults: field(&stat, "workingset_refault_file").unwrap_or(0),
            anon: field(&stat, "anon").unwrap_or(0),
            limit: parse_limit(&read("memory.max")),
        };
        match self.detector.observe(sample, THRESHOLDS) {
            Verdict::Calm => self.watching = false,
            Verdict::Watch => self.watching = true,
            Verdict::Kill => {
                self.watching = false;
                self.kill_victim(&sample);
            }
        }
    }

    fn kill_victim(&mut self, sample: &Sample) {
        let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        let candidates: Vec<(i32, u64)> = procs
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
            .filter_map(|pid| {
                let score = std::fs::read_to_string(format!("/proc/{pid}/oom_score")).ok()?;
                Some((pid, score.trim().parse().ok()?))
            })
            .collect();
        let Some(pid) = choose_victim(&candidates) else {
            return;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
            self.killed.push(pid);
            log!(
                "memory guard: the container thrashes at its limit (anon {} KiB of {} KiB, its page cache read back in): killed process {pid} ({}), like the kernel's OOM killer would",
                sample.anon >> 10,
                sample.limit.unwrap_or(0) >> 10,
                comm.trim()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn sample(at_ms: u64, max_events: u64, refaults: u64, anon_mib: u64) -> Sample {
        Sample {
            at_ms,
            max_events,
            refaults,
            anon: anon_mib * MIB,
            limit: Some(64 * MIB),
        }
    }

    #[test]
    fn thrashing_at_the_limit_kills_after_one_window() {
        let mut d = ThrashDetector::default();
        assert_eq!(
            d.observe(sample(0, 10, 100, 62), THRESHOLDS),
            Verdict::Watch
        );
        assert_eq!(
            d.observe(sample(100, 50, 160, 62), THRESHOLDS),
            Verdict::Watch
        );
        assert_eq!(
            d.observe(sample(250, 90, 600, 63), THRESHOLDS),
            Verdict::Kill
        );
    }

    #[test]
    fn streaming_files_through_a_small_limit_is_not_thrashing() {
        // At the limit all the time, lots of refaults, but the page cache is most of it.
        let mut d = ThrashDetector::default();
        assert_eq!(d.observe(sample(0, 10, 0, 8), THRESHOLDS), Verdict::Watch);
        for i in 1..20 {
            let v = d.observe(sample(i * WINDOW_MS, 10 + i * 100, i * 5000, 8), THRESHOLDS);
            assert_eq!(v, Verdict::Watch);
        }
    }

    #[test]
    fn a_full_container_without_refaults_is_left_alone() {
        let mut d = ThrashDetector::default();
        d.observe(sample(0, 10, 100, 63), THRESHOLDS);
        assert_eq!(
            d.observe(sample(300, 20, 110, 63), THRESHOLDS),
            Verdict::Watch
        );
    }

    #[test]
    fn no_limit_hits_in_a_window_means_calm() {
        let mut d = ThrashDetector::default();
        d.observe(sample(0, 10, 100, 63), THRESHOLDS);
        assert_eq!(
            d.observe(sample(300, 10, 5000, 63), THRESHOLDS),
            Verdict::Calm
        );
        let mut unlimited = sample(400, 11, 9000, 63);
        unlimited.limit = None;
        assert_eq!(d.observe(unlimited, THRESHOLDS), Verdict::Calm);
    }

    #[test]
    fn cgroup_files_parse() {
        let events = "low 0\nhigh 0\nmax 890\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(field(events, "max"), Some(890));
        assert_eq!(field(events, "oom_kill"), Some(1));
        assert_eq!(
            field("anon 1146880\nfile 1757184\n", "file"),
            Some(1_757_184)
        );
        assert_eq!(field("anon x\n", "anon"), None);
        assert_eq!(field("", "anon"), None);
        assert_eq!(parse_limit("67108864\n"), Some(64 * MIB));
        assert_eq!(parse_limit("max\n"), None);
    }

    #[test]
    fn victim_is_the_highest_oom_score() {
        assert_eq!(choose_victim(&[(32, 3), (34, 990), (33, 2)]), Some(34));
        assert_eq!(choose_victim(&[(5, 7), (9, 7)]), Some(9));
        assert_eq!(choose_victim(&[(5, 0)]), None);
        assert_eq!(choose_victim(&[]), None);
    }
}
