//! `--restart`: Docker's restart policies and its back-off. The container's supervisor
//! (the shim of a detached container) applies them when the VM ends; there is no daemon,
//! so nothing restarts a container whose shim is gone (a host reboot) until `hull start`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Docker's `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always` or `unless-stopped`.
    pub name: RestartMode,
    /// `on-failure:N`: at most N restarts (0: no limit).
    pub maximum_retry_count: u32,
}

/// When a container is restarted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    /// Never (Docker's default).
    #[default]
    No,
    /// When it exits with a non-zero status.
    OnFailure,
    /// Whatever its status, unless a user stopped it.
    Always,
    /// As `always` (the two differ only when a daemon restarts, and hull has none).
    UnlessStopped,
}

impl RestartMode {
    /// Docker's name.
    pub fn name(self) -> &'static str {
        match self {
            RestartMode::No => "no",
            RestartMode::OnFailure => "on-failure",
            RestartMode::Always => "always",
            RestartMode::UnlessStopped => "unless-stopped",
        }
    }
}

impl std::str::FromStr for RestartPolicy {
    type Err = String;

    /// `no`, `always`, `unless-stopped`, `on-failure[:N]`, with Docker's messages.
    fn from_str(text: &str) -> Result<Self, String> {
        let (name, count) = match text.split_once(':') {
            Some(("", _)) => {
                return Err("invalid restart policy format: no policy provided before colon".into())
            }
            Some((name, count)) => (name, Some(count)),
            None => (text, None),
        };
        let maximum_retry_count: i64 = match count {
            Some(count) => count.parse().map_err(|_| {
                "invalid restart policy format: maximum retry count must be an integer".to_string()
            })?,
            None => 0,
        };
        let mode = match name {
            "" | "no" => RestartMode::No,
            "on-failure" => RestartMode::OnFailure,
            "always" => RestartMode::Always,
            "unless-stopped" => RestartMode::UnlessStopped,
            other => {
                return Err(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                ))
            }
        };
        if maximum_retry_count != 0 && mode != RestartMode::OnFailure {
            return Err(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                    .into(),
            );
        }
        let maximum_retry_count = u32::try_from(maximum_retry_count).map_err(|_| {
            "invalid restart policy: maximum retry count cannot be negative".to_string()
        })?;
        Ok(Self {
            name: mode,
            maximum_retry_count,
        })
    }
}

impl RestartPolicy {
    /// Whether the policy is `no`.
    pub fn is_none(&self) -> bool {
        self.name == RestartMode::No
    }

    /// Whether a container that ended with `exit_code`, restarted `restart_count` times
    /// since its user started it, is restarted; never once a user stopped it.
    pub fn should_restart(
        &self,
        exit_code: i32,
        restart_count: u32,
        stopped_by_user: bool,
    ) -> bool {
        if stopped_by_user {
            return false;
        }
        match self.name {
            RestartMode::No => false,
            RestartMode::Always | RestartMode::UnlessStopped => true,
            RestartMode::OnFailure => {
                exit_code != 0
                    && (self.maximum_retry_count == 0 || restart_count < self.maximum_retry_count)
            }
        }
    }
}

/// Docker's restart back-off: 100 ms, doubled at each restart up to a minute, back to
/// 100 ms once a run lasted 10 seconds.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    delay: Duration,
}

impl Backoff {
    /// The first delay.
    pub const INITIAL: Duration = Duration::from_millis(100);
    /// The longest delay.
    pub const MAX: Duration = Duration::from_secs(60);
    /// A run at least this long resets the delay.
    pub const RESET_AFTER: Duration = Duration::from_secs(10);

    /// The wait before the next start, after a run that lasted `uptime`.
    pub fn next(&mut self, uptime: Duration) -> Duration {
        if uptime >= Self::RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            Self::INITIAL
        } else {
            (self.delay * 2).min(Self::MAX)
        };
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> RestartPolicy {
        text.parse().unwrap()
    }

    #[test]
    fn policies_parse_like_dockers() {
        assert_eq!(policy("no"), RestartPolicy::default());
        assert_eq!(policy("always").name, RestartMode::Always);
        assert_eq!(policy("unless-stopped").name, RestartMode::UnlessStopped);
        assert_eq!(
            policy("on-failure:3"),
            RestartPolicy {
                name: RestartMode::OnFailure,
                maximum_retry_count: 3
            }
        );
        assert_eq!(policy("on-failure").maximum_retry_count, 0);
        let error = |text: &str| text.parse::<RestartPolicy>().unwrap_err();
        assert!(error("sometimes").contains("unknown policy 'sometimes'"));
        assert!(error("always:3").contains("only be used with 'on-failure'"));
        assert!(error("on-failure:x").contains("must be an integer"));
        assert!(error("on-failure:-1").contains("cannot be negative"));
        assert!(error(":3").contains("no policy provided before colon"));
    }

    #[test]
    fn on_failure_restarts_failures_up_to_its_count() {
        let limited = policy("on-failure:2");
        assert!(limited.should_restart(1, 0, false));
        assert!(limited.should_restart(1, 1, false));
        assert!(!limited.should_restart(1, 2, false), "2 restarts, 3 runs");
        assert!(
            !limited.should_restart(0, 0, false),
            "success is not a failure"
        );
        assert!(policy("on-failure").should_restart(1, 1000, false));
    }

    #[test]
    fn always_restarts_any_status_but_never_after_a_user_stop() {
        for name in ["always", "unless-stopped"] {
            assert!(policy(name).should_restart(0, 50, false));
            assert!(policy(name).should_restart(137, 0, false));
            assert!(!policy(name).should_restart(137, 0, true));
        }
        assert!(!policy("no").should_restart(1, 0, false));
    }

    #[test]
    fn backoff_doubles_from_100ms_caps_at_a_minute_and_resets_after_10s_up() {
        let mut backoff = Backoff::default();
        let short = Duration::from_secs(1);
        let delays: Vec<u128> = (0..4).map(|_| backoff.next(short).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800]);
        for _ in 0..20 {
            backoff.next(short);
        }
        assert_eq!(backoff.next(short), Backoff::MAX);
        assert_eq!(backoff.next(Duration::from_secs(10)), Backoff::INITIAL);
    }
}
