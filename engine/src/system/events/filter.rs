//! `--filter` and `--since`/`--until` of `hull events`, as Docker reads them.

use super::Event;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Docker's event filters: values of one key are alternatives, different keys must all
/// match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    by_key: BTreeMap<String, Vec<String>>,
}

const KEYS: [&str; 6] = ["container", "event", "image", "label", "type", "name"];

impl EventFilter {
    /// Parses `KEY=VALUE` filters; an unknown key or a missing `=` is an error naming it.
    pub fn parse(filters: &[String]) -> Result<Self, String> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for filter in filters {
            let Some((key, value)) = filter.split_once('=') else {
                return Err(format!(
                    "bad format of filter (expected name=value): {filter}"
                ));
            };
            let key = key.trim().to_ascii_lowercase();
            if !KEYS.contains(&key.as_str()) {
                return Err(format!("invalid filter '{key}'"));
            }
            by_key.entry(key).or_default().push(value.to_string());
        }
        Ok(Self { by_key })
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        self.by_key
            .iter()
            .all(|(key, values)| values.iter().any(|value| matches_one(key, value, event)))
    }
}

fn matches_one(key: &str, value: &str, event: &Event) -> bool {
    let attributes = &event.actor.attributes;
    let name = attributes.get("name").map(String::as_str);
    match key {
        "type" => event.kind == value,
        "event" => event.action == value,
        // Docker matches a container by name or id prefix, an image by its name or id.
        "container" => {
            event.kind == "container"
                && (name == Some(value) || (!value.is_empty() && event.actor.id.starts_with(value)))
        }
        "image" => {
            let image = if event.kind == "image" {
                name
            } else {
                attributes.get("image").map(String::as_str)
            };
            image.is_some_and(|image| same_image(image, value)) || event.actor.id == value
        }
        "name" => name == Some(value),
        "label" => match value.split_once('=') {
            Some((k, v)) => attributes.get(k).is_some_and(|have| have == v),
            None => attributes.contains_key(value),
        },
        _ => false,
    }
}

/// `busybox` names `busybox:latest` too.
fn same_image(have: &str, wanted: &str) -> bool {
    let with_tag = |name: &str| {
        if name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            name.to_string()
        } else {
            format!("{name}:latest")
        }
    };
    with_tag(have) == with_tag(wanted)
}

/// Docker's `--since`/`--until` values, in Unix nanoseconds: RFC 3339 times (also without
/// seconds or zone, read as UTC), Unix seconds with an optional fraction, or a duration
/// (`10m`, `1h30m`) meaning that long before `now`.
pub fn parse_timestamp(text: &str, now: SystemTime) -> Result<i64, String> {
    let nanos = super::unix_nanos;
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(nanos(time));
    }
    if let Some(time) = parse_unix(text) {
        return Ok(time);
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(nanos(now.checked_sub(ago).unwrap_or(UNIX_EPOCH)));
    }
    Err(format!(
        "invalid time {text:?}: use an RFC 3339 time, Unix seconds or a duration such as 10m"
    ))
}

fn parse_unix(text: &str) -> Option<i64> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = seconds.parse().ok()?;
    let nanos: i64 = format!("{fraction:0<9}").parse().ok()?;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn die(name: &str, image: &str) -> Event {
        Event::container(
            "die",
            "0123abcd",
            BTreeMap::from([
                ("name".to_string(), name.to_string()),
                ("image".to_string(), image.to_string()),
                ("tier".to_string(), "web".to_string()),
            ]),
        )
    }

    fn filter(items: &[&str]) -> EventFilter {
        EventFilter::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn same_key_is_or_different_keys_are_and() {
        let event = die("web", "busybox");
        assert!(filter(&["event=start", "event=die"]).matches(&event));
        assert!(!filter(&["event=die", "container=db"]).matches(&event));
        assert!(filter(&["container=web", "type=container"]).matches(&event));
        assert!(filter(&["container=0123"]).matches(&event));
        assert!(filter(&["image=busybox:latest"]).matches(&event));
        assert!(filter(&["label=tier=web", "label=tier"]).matches(&event));
        assert!(!filter(&["label=tier=db"]).matches(&event));
        assert!(filter(&[]).matches(&event));
    }

    #[test]
    fn bad_filters_are_refused_with_their_name() {
        assert!(EventFilter::parse(&["colour=red".into()])
            .unwrap_err()
            .contains("colour"));
        assert!(EventFilter::parse(&["event".into()]).is_err());
    }

    #[test]
    fn timestamps_in_dockers_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_timestamp("1700000000", now),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_timestamp("1700000000.5", now),
            Ok(1_700_000_000_500_000_000)
        );
        assert_eq!(parse_timestamp("10m", now), Ok(999_400_000_000_000));
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z", now),
            Ok(1_700_000_000_000_000_000)
        );
        assert!(parse_timestamp("yesterday", now).is_err());
        assert!(parse_timestamp("1.2.3", now).is_err());
    }
}
