//! The event journal behind `hull events`: every process that changes a container or an
//! image appends one JSON line (Docker's `/events` message) to `<root>/events.jsonl`; a
//! reader follows the file. There is no daemon to hold events in memory, so the journal is
//! the record; it keeps the newest [`KEEP_EVENTS`] events once it grows past
//! [`ROTATE_BYTES`].

mod filter;
mod journal;

pub use filter::{parse_timestamp, EventFilter};
pub use journal::{EventCursor, EventLog};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// When the journal is compacted.
pub const ROTATE_BYTES: u64 = 1 << 20;
/// How many events compaction keeps (Docker keeps 1000 in memory).
pub const KEEP_EVENTS: usize = 1000;

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The container's or image's id.
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, `signal`, labels, ...
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as Docker's `/events` streams it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `container` or `image`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `destroy`, `kill`, `tag`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// What it is about.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// Docker's deprecated copy of `Action` (containers and images only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Docker's deprecated copy of `Actor.ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Docker's deprecated image of a container event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Event {
    /// A container event now: `attributes` holds at least `name` and `image`.
    pub fn container(action: &str, id: &str, attributes: BTreeMap<String, String>) -> Self {
        let from = attributes.get("image").cloned();
        Self::new("container", action, id, attributes, from)
    }

    /// An image event now (`name` is the reference it concerns).
    pub fn image(action: &str, id: &str, name: &str) -> Self {
        let attributes = BTreeMap::from([("name".to_string(), name.to_string())]);
        Self::new("image", action, id, attributes, None)
    }

    fn new(
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
        from: Option<String>,
    ) -> Self {
        let nanos = unix_nanos(SystemTime::now());
        Self {
            kind: kind.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
            status: Some(action.into()),
            id: Some(id.into()),
            from,
        }
    }

    /// Docker's CLI line: `TIME TYPE ACTION ID (key=value, ...)`, the time in UTC with
    /// nanoseconds.
    pub fn to_line(&self) -> String {
        let seconds = u64::try_from(self.time_nano / 1_000_000_000).unwrap_or(0);
        let nanos = u32::try_from(self.time_nano % 1_000_000_000).unwrap_or(0);
        let when = UNIX_EPOCH + std::time::Duration::new(seconds, nanos);
        let stamp = humantime::format_rfc3339_nanos(when).to_string();
        let attributes: Vec<String> = self
            .actor
            .attributes
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let mut line = format!("{stamp} {} {} {}", self.kind, self.action, self.actor.id);
        if !attributes.is_empty() {
            line.push_str(&format!(" ({})", attributes.join(", ")));
        }
        line
    }
}

/// `time` in Unix nanoseconds (0 before 1970, saturating far in the future).
pub fn unix_nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_dockers() {
        let mut event = Event::container(
            "die",
            "abc",
            BTreeMap::from([
                ("name".to_string(), "web".to_string()),
                ("image".to_string(), "busybox".to_string()),
                ("exitCode".to_string(), "0".to_string()),
            ]),
        );
        event.time_nano = 1_700_000_000_123_456_789;
        assert_eq!(
            event.to_line(),
            "2023-11-14T22:13:20.123456789Z container die abc (exitCode=0, image=busybox, name=web)"
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["Type"], "container");
        assert_eq!(json["Actor"]["Attributes"]["name"], "web");
        assert_eq!(json["from"], "busybox");
        assert_eq!(json["status"], "die");
    }
}
