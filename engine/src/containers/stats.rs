//! `stats`: a running container's use of its cgroup as hull-init reports it every second
//! (memory, pids, CPU time), kept by its supervisor in `stats.json`; CPU % from the last two
//! reports.

use super::Containers;
use crate::container::store::write_atomic;
use crate::container::Container;
use crate::error::Result;
use hull_protocol::GuestEvent;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// One report of the guest, with the host time it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSample {
    /// Host wall clock, µs since the epoch.
    pub at_usec: u64,
    /// memory.current.
    pub memory_bytes: u64,
    /// memory.max (None: no limit).
    pub memory_limit: Option<u64>,
    /// pids.current.
    pub pids: u64,
    /// CPU time used so far, µs.
    pub cpu_usec: u64,
}

/// The last two reports (`stats.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The report before the last.
    pub previous: Option<UsageSample>,
    /// The last report.
    pub latest: Option<UsageSample>,
}

/// What `hull stats` shows for one container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerStats {
    /// The container.
    pub id: String,
    /// Its name.
    pub name: String,
    /// CPU use between the last two reports, in % of one CPU (Docker's scale).
    pub cpu_percent: f64,
    /// Memory the container uses.
    pub memory_bytes: u64,
    /// Its limit: `-m`, else what its VM leaves it.
    pub memory_limit: u64,
    /// Processes.
    pub pids: u64,
    /// Whether the guest has reported yet (a container that just started may not have).
    pub reported: bool,
}

/// Records a `stats` event in `path` (called by the supervisor for each one).
pub fn record(path: &Path, event: &GuestEvent) {
    let GuestEvent::Stats {
        memory_bytes,
        memory_limit,
        pids,
        cpu_usec,
    } = *event
    else {
        return;
    };
    let at_usec = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let sample = UsageSample {
        at_usec,
        memory_bytes,
        memory_limit,
        pids,
        cpu_usec,
    };
    let old = read(path);
    let record = UsageRecord {
        previous: old.latest,
        latest: Some(sample),
    };
    if let Ok(bytes) = serde_json::to_vec(&record) {
        let _ = write_atomic(path, &bytes);
    }
}

fn read(path: &Path) -> UsageRecord {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// CPU % between two reports (100 = one CPU busy).
#[allow(clippy::cast_precision_loss)]
fn cpu_percent(record: &UsageRecord) -> f64 {
    match (record.previous, record.latest) {
        (Some(a), Some(b)) if b.at_usec > a.at_usec => {
            b.cpu_usec.saturating_sub(a.cpu_usec) as f64 * 100.0 / (b.at_usec - a.at_usec) as f64
        }
        _ => 0.0,
    }
}

impl Containers {
    /// The usage of the running container `reference` names.
    pub fn stats(&self, reference: &str) -> Result<ContainerStats> {
        let container = self.find(reference)?;
        Ok(self.stats_of(&container))
    }

    /// The usage of `container` (zeros for one that is not running or not reported yet).
    pub fn stats_of(&self, container: &Container) -> ContainerStats {
        let record = if container.is_running() {
            read(&self.store.paths(&container.id).stats())
        } else {
            UsageRecord::default()
        };
        let latest = record.latest;
        ContainerStats {
            id: container.id.clone(),
            name: container.name.clone(),
            cpu_percent: cpu_percent(&record),
            memory_bytes: latest.map_or(0, |s| s.memory_bytes),
            memory_limit: latest
                .and_then(|s| s.memory_limit)
                .unwrap_or(container.options.mem_mib << 20),
            pids: latest.map_or(0, |s| s.pids),
            reported: latest.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_reports_give_the_cpu_percent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        let event = |cpu_usec| GuestEvent::Stats {
            memory_bytes: 1 << 20,
            memory_limit: Some(64 << 20),
            pids: 2,
            cpu_usec,
        };
        record(&path, &event(1_000));
        let first = read(&path);
        assert!(first.previous.is_none());
        assert_eq!(cpu_percent(&first), 0.0);
        record(&path, &event(2_000));
        let second = read(&path);
        assert_eq!(second.previous, first.latest);
        let mut fixed = second;
        fixed.previous.as_mut().unwrap().at_usec = 0;
        fixed.latest.as_mut().unwrap().at_usec = 10_000;
        assert!((cpu_percent(&fixed) - 10.0).abs() < 1e-9);
    }
}
