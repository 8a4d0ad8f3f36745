//! Is a recorded process still the one we started? A pid alone lies after the process died
//! (pids are reused) and after a reboot, so we also keep its start time (clock ticks since
//! boot, /proc/PID/stat field 22) and the boot id.

use serde::{Deserialize, Serialize};

/// A process identity that survives pid reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// The pid.
    pub pid: i32,
    /// Its start time in clock ticks since boot.
    pub start_ticks: u64,
}

impl ProcessRef {
    /// The identity of the live process `pid`, if it exists.
    pub fn of(pid: u32) -> Option<Self> {
        let pid = i32::try_from(pid).ok()?;
        Some(Self {
            pid,
            start_ticks: start_ticks(pid)?,
        })
    }

    /// True while the same process (not a zombie, not a reused pid) is running.
    pub fn is_alive(&self) -> bool {
        start_ticks(self.pid) == Some(self.start_ticks)
    }
}

/// Field 22 of /proc/PID/stat; `None` if the process is gone or a zombie.
fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `rest` starts at field 3; field 22 is 19 further on.
    fields.nth(18)?.parse().ok()
}

/// This boot's id: a container "running" under another boot id is not running.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessRef::of(std::process::id()).unwrap();
        assert!(me.is_alive());
        let other = ProcessRef {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!other.is_alive());
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let identity = ProcessRef::of(child.id());
        child.wait().unwrap();
        if let Some(identity) = identity {
            assert!(!identity.is_alive());
        }
    }

    #[test]
    fn boot_id_is_a_uuid() {
        assert_eq!(boot_id().len(), 36);
    }
}
