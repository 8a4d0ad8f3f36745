//! `ps --filter KEY=VALUE`, as Docker matches them: `id` and `name` by substring (a name
//! pattern may be anchored with `^`/`$`), `label` (`KEY` or `KEY=VALUE`), `status`,
//! `exited`, `ancestor` (the image as named or its id), `before`/`since` (another
//! container). Filters with different keys must all match; several of one key, any,
//! except `label`: every label asked for must be there (Docker's `MatchKVList`; what
//! docker-compose's `label=project=P` plus `label=oneoff=False` relies on).

use crate::container::{Container, Status};
use crate::error::{Error, Result};

/// The keys `ps --filter` takes.
const KEYS: &[&str] = &[
    "id", "name", "label", "status", "exited", "ancestor", "before", "since",
];

/// Parsed `--filter` arguments.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    terms: Vec<(String, String)>,
}

impl ContainerFilter {
    /// Parses `KEY=VALUE` terms; an unknown key or a bad value is Docker's error.
    pub fn parse(terms: &[String]) -> Result<Self> {
        let mut parsed = Vec::new();
        for term in terms {
            let Some((key, value)) = term.split_once('=') else {
                return Err(Error::InvalidArgument(format!(
                    "bad format of filter (expected name=value): {term}"
                )));
            };
            let key = key.trim().to_ascii_lowercase();
            if !KEYS.contains(&key.as_str()) {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
            if key == "status"
                && ![
                    "created",
                    "restarting",
                    "running",
                    "removing",
                    "paused",
                    "exited",
                    "dead",
                ]
                .contains(&value)
            {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter 'status={value}'"
                )));
            }
            if key == "exited" && value.parse::<i32>().is_err() {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter 'exited={value}'"
                )));
            }
            parsed.push((key, value.to_string()));
        }
        Ok(Self { terms: parsed })
    }

    /// Whether any term asks for stopped containers too (Docker then lists them without -a).
    pub fn wants_stopped(&self) -> bool {
        self.terms
            .iter()
            .any(|(k, v)| k == "exited" || (k == "status" && v != "running"))
    }

    /// Keeps the containers of `all` (newest first) that match.
    pub fn apply(&self, all: Vec<Container>) -> Vec<Container> {
        let position = |reference: &str| {
            all.iter().position(|c| {
                c.name == reference || (!reference.is_empty() && c.id.starts_with(reference))
            })
        };
        let bounds: Vec<(String, Option<usize>)> = self
            .terms
            .iter()
            .filter(|(k, _)| k == "before" || k == "since")
            .map(|(k, v)| (k.clone(), position(v)))
            .collect();
        all.iter()
            .enumerate()
            .filter(|(index, container)| {
                KEYS.iter().all(|key| {
                    let mut values = self.terms.iter().filter(|(k, _)| k == key).peekable();
                    if values.peek().is_none() {
                        return true;
                    }
                    let one = |(_, value): &(String, String)| match *key {
                        "before" | "since" => bounds.iter().any(|(k, at)| {
                            k == key
                                && at.is_some_and(|at| {
                                    // Newest first: older containers have larger indices.
                                    if *key == "before" {
                                        *index > at
                                    } else {
                                        *index < at
                                    }
                                })
                        }),
                        _ => matches(container, key, value),
                    };
                    if *key == "label" {
                        values.all(one)
                    } else {
                        values.any(one)
                    }
                })
            })
            .map(|(_, c)| c.clone())
            .collect()
    }
}

fn matches(container: &Container, key: &str, value: &str) -> bool {
    match key {
        "id" => container.id.starts_with(value),
        "name" => name_matches(&container.name, value),
        "label" => match value.split_once('=') {
            Some((k, v)) => container.config.labels.get(k).is_some_and(|l| l == v),
            None => container.config.labels.contains_key(value),
        },
        "status" => state_name(container) == value,
        "exited" => {
            container.state.status == Status::Exited
                && value.parse() == Ok(container.state.exit_code)
        }
        "ancestor" => {
            let image = container.image.as_str();
            image == value
                || image.strip_suffix(":latest") == Some(value)
                || value.strip_suffix(":latest") == Some(image)
                || container
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(value.trim_start_matches("sha256:"))
        }
        _ => false,
    }
}

/// Docker's `name` filter is a regular expression; the forms people use are a substring,
/// `^prefix`, `suffix$` and `^exact$`.
fn name_matches(name: &str, pattern: &str) -> bool {
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (anchored_end, core) = match rest.strip_suffix('$') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    match (anchored_start, anchored_end) {
        (true, true) => name == core,
        (true, false) => name.starts_with(core),
        (false, true) => name.ends_with(core),
        (false, false) => name.contains(core),
    }
}

/// Docker's `State.Status` of `container`: its status, or "paused" while paused.
pub fn state_name(container: &Container) -> &'static str {
    if container.is_paused() {
        "paused"
    } else {
        status_name(container.state.status)
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited => "exited",
        Status::Dead => "dead",
        Status::Restarting => "restarting",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::RunOptions;
    use crate::host::EngineKind;

    fn container(name: &str, status: Status, code: i32, label: Option<(&str, &str)>) -> Container {
        let options = RunOptions {
            tty: false,
            interactive: false,
            auto_remove: false,
            mem_mib: 256,
            memory_limit: 0,
            memory_swap: 0,
            cpus: 1,
            engine: EngineKind::Qemu,
            cold: false,
        };
        let mut c = Container::new(
            format!("{name:0>64}"),
            name.into(),
            "busybox".into(),
            "sha256:abc".into(),
            vec!["true".into()],
            options,
            vec![],
        );
        c.state.status = status;
        c.state.exit_code = code;
        if let Some((k, v)) = label {
            c.config.labels.insert(k.into(), v.into());
        }
        c
    }

    fn names(filter: &[&str], all: &[Container]) -> Vec<String> {
        let terms: Vec<String> = filter.iter().map(|s| (*s).to_string()).collect();
        ContainerFilter::parse(&terms)
            .unwrap()
            .apply(all.to_vec())
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn filters_match_as_dockers() {
        // Newest first, as the store lists them.
        let all = [
            container("web", Status::Running, 0, Some(("tier", "front"))),
            container("db", Status::Exited, 3, Some(("tier", "back"))),
            container("webapp", Status::Exited, 0, None),
        ];
        assert_eq!(names(&["name=web"], &all), ["web", "webapp"]);
        assert_eq!(names(&["name=^web$"], &all), ["web"]);
        assert_eq!(names(&["status=exited"], &all), ["db", "webapp"]);
        assert_eq!(names(&["exited=3"], &all), ["db"]);
        assert_eq!(names(&["label=tier"], &all), ["web", "db"]);
        assert_eq!(names(&["label=tier=back"], &all), ["db"]);
        // Labels: every one asked for (docker-compose's project and one-off labels).
        assert_eq!(names(&["label=tier", "label=tier=front"], &all), ["web"]);
        assert!(names(&["label=tier=front", "label=tier=back"], &all).is_empty());
        assert_eq!(names(&["name=web", "status=exited"], &all), ["webapp"]);
        assert_eq!(names(&["name=db", "name=webapp"], &all), ["db", "webapp"]);
        assert_eq!(names(&["ancestor=busybox:latest"], &all).len(), 3);
        assert_eq!(names(&["before=db"], &all), ["webapp"]);
        assert_eq!(names(&["since=db"], &all), ["web"]);
    }

    #[test]
    fn a_paused_container_is_paused_not_running() {
        let mut paused = container("frozen", Status::Running, 0, None);
        paused.state.paused = true;
        let all = [paused, container("web", Status::Running, 0, None)];
        assert_eq!(names(&["status=paused"], &all), ["frozen"]);
        assert_eq!(names(&["status=running"], &all), ["web"]);
        assert_eq!(state_name(&all[0]), "paused");
        // A stale flag on an ended container means nothing.
        let mut ended = container("old", Status::Exited, 0, None);
        ended.state.paused = true;
        assert_eq!(state_name(&ended), "exited");
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in ["nokey", "color=red", "status=sleeping", "exited=x"] {
            assert!(ContainerFilter::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
