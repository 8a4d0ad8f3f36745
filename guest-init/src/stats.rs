//! Usage reports for `hull stats`: every [`INTERVAL_MS`] PID 1 reads the container's cgroup
//! (memory, pids, CPU time) and sends it to the host as a `stats` event on hvc2. The host
//! keeps the latest; what `hull stats` shows is the container's own use as its cgroup sees
//! it, not the VM's.

use hull_protocol::GuestEvent;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// How often the container's usage is reported.
pub const INTERVAL_MS: u64 = 1000;

/// The kernel command-line option that turns the reports off. The emulation-only KVM profile
/// passes it: there every report is emulated guest-kernel work (cgroup reads, a console
/// write), seconds of it a minute for containers that are being tested, not watched.
pub const OFF_OPTION: &str = "hull.stats=off";

/// Whether the kernel command line `cmdline` leaves the reports on.
pub fn enabled(cmdline: &str) -> bool {
    !cmdline
        .split_whitespace()
        .any(|option| option == OFF_OPTION)
}

/// Reads one cgroup and reports it when due.
pub struct StatsReporter {
    dir: PathBuf,
    next_due_ms: u64,
}

impl StatsReporter {
    /// A reporter for the cgroup at `dir`; the first report is due one interval after the
    /// first check (a short-lived container never pays for one).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            next_due_ms: 0,
        }
    }

    /// Milliseconds until the next report is due at `now_ms`.
    pub fn timeout_ms(&self, now_ms: u64) -> u64 {
        if self.next_due_ms == 0 {
            return INTERVAL_MS;
        }
        self.next_due_ms.saturating_sub(now_ms)
    }

    /// Sends a report on `control` if one is due at `now_ms`.
    pub fn report_if_due(&mut self, now_ms: u64, control: &File) {
        if self.next_due_ms == 0 {
            self.next_due_ms = now_ms + INTERVAL_MS;
            return;
        }
        if now_ms < self.next_due_ms {
            return;
        }
        self.next_due_ms = now_ms + INTERVAL_MS;
        let event = self.sample();
        let mut control = control;
        let _ = control.write_all(event.to_line().as_bytes());
    }

    /// The cgroup's usage now.
    pub fn sample(&self) -> GuestEvent {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        GuestEvent::Stats {
            memory_bytes: read("memory.current").trim().parse().unwrap_or(0),
            memory_limit: read("memory.max").trim().parse().ok(),
            pids: read("pids.current").trim().parse().unwrap_or(0),
            cpu_usec: crate::memory_guard::field(&read("cpu.stat"), "usage_usec").unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_turns_reports_off() {
        assert!(enabled("console=ttyS0 quiet"));
        assert!(!enabled("quiet hull.stats=off tsc=reliable"));
    }

    #[test]
    fn a_sample_reads_the_cgroup_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.current"), "4096\n").unwrap();
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        std::fs::write(dir.path().join("pids.current"), "3\n").unwrap();
        std::fs::write(
            dir.path().join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\n",
        )
        .unwrap();
        let reporter = StatsReporter::new(dir.path().to_path_buf());
        assert_eq!(
            reporter.sample(),
            GuestEvent::Stats {
                memory_bytes: 4096,
                memory_limit: None,
                pids: 3,
                cpu_usec: 1500,
            }
        );
        std::fs::write(dir.path().join("memory.max"), "67108864\n").unwrap();
        assert!(matches!(
            reporter.sample(),
            GuestEvent::Stats {
                memory_limit: Some(67_108_864),
                ..
            }
        ));
    }

    #[test]
    fn reports_come_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::NamedTempFile::new().unwrap();
        let mut reporter = StatsReporter::new(dir.path().to_path_buf());
        // The first check only starts the clock.
        reporter.report_if_due(4000, out.as_file());
        reporter.report_if_due(5000, out.as_file());
        reporter.report_if_due(5500, out.as_file());
        assert_eq!(reporter.timeout_ms(5500), 500);
        reporter.report_if_due(6000, out.as_file());
        let text = std::fs::read_to_string(out.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(GuestEvent::parse_line(text.lines().next().unwrap().as_bytes()).is_some());
    }
}
