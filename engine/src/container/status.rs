//! Docker's words for a container's state and times: "Up 3 seconds", "Exited (7) 2 minutes
//! ago", "About a minute" (the CLI's `ps` and the API's container list both show them).

use super::{Container, RunState, Status};
use std::time::{Duration, SystemTime};

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds < 60 => plural(seconds, "second"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => plural(minutes, "minute"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => plural(hours, "hour"),
        _ if hours < 24 * 7 * 2 => plural(hours / 24, "day"),
        _ if hours < 24 * 30 * 2 => plural(hours / 24 / 7, "week"),
        _ if hours < 24 * 365 * 2 => plural(hours / 24 / 30, "month"),
        _ => plural(hours / 24 / 365, "year"),
    }
}

/// "N units ago" for an RFC 3339 time (empty if it does not parse).
pub fn ago(rfc3339: &str) -> String {
    since(rfc3339)
        .map(|d| format!("{} ago", human_duration(d)))
        .unwrap_or_default()
}

/// Time elapsed since an RFC 3339 time.
pub fn since(rfc3339: &str) -> Option<Duration> {
    let then = super::state::parse_time(rfc3339)?;
    Some(SystemTime::now().duration_since(then).unwrap_or_default())
}

/// "2 minutes ago" since the last run ended.
fn ended_ago(state: &RunState) -> String {
    state.finished_at.as_deref().map(ago).unwrap_or_default()
}

/// Docker's STATUS column: "Up 3 seconds", "Exited (7) 2 minutes ago", "Created".
pub fn status_text(container: &Container) -> String {
    let state = &container.state;
    match state.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}{}",
            state
                .started_at
                .as_deref()
                .and_then(since)
                .map(human_duration)
                .unwrap_or_default(),
            if container.is_paused() {
                " (Paused)"
            } else {
                ""
            }
        ),
        Status::Exited => format!("Exited ({}) {}", state.exit_code, ended_ago(state)),
        Status::Dead => "Dead".into(),
        Status::Restarting => {
            format!("Restarting ({}) {}", state.exit_code, ended_ago(state))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(3)), "3 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(150)), "2 minutes");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }
}
