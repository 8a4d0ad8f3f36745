//! `network ls --filter KEY=VALUE`, as Docker matches them: `name` and `id` by substring
//! (`id` also by prefix), `driver` exactly, `label` (`KEY` or `KEY=VALUE`), `scope`
//! (`local`), `type` (`custom` or `builtin`), `dangling` (`true`/`false`: without
//! endpoints). Terms with different keys must all match; several of one key, any.

use crate::error::{Error, Result};
use hull_network::{Network, NetworkStore};

const KEYS: &[&str] = &["name", "id", "driver", "label", "scope", "type", "dangling"];

/// Parsed `--filter` arguments.
#[derive(Debug, Clone, Default)]
pub struct NetworkFilter {
    terms: Vec<(String, String)>,
}

impl NetworkFilter {
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
            if key == "type" && !["custom", "builtin"].contains(&value) {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter: 'type'='{value}'"
                )));
            }
            if key == "dangling" && !["true", "false", "1", "0"].contains(&value) {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter 'dangling={value}'"
                )));
            }
            parsed.push((key, value.to_string()));
        }
        Ok(Self { terms: parsed })
    }

    /// Whether `network` passes every key's terms.
    pub fn matches(&self, network: &Network, store: &NetworkStore) -> bool {
        KEYS.iter().all(|key| {
            let mut values = self
                .terms
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .peekable();
            values.peek().is_none() || values.any(|value| term_matches(key, value, network, store))
        })
    }
}

fn term_matches(key: &str, value: &str, network: &Network, store: &NetworkStore) -> bool {
    match key {
        "name" => network.name.contains(value),
        "id" => network.id.contains(value),
        "driver" => network.driver == value,
        "label" => match value.split_once('=') {
            Some((k, v)) => network.labels.get(k).is_some_and(|have| have == v),
            None => network.labels.contains_key(value),
        },
        "scope" => value == "local",
        "type" => (value == "builtin") == network.is_predefined(),
        "dangling" => {
            let wanted = matches!(value, "true" | "1");
            let unused = store.endpoints(network).is_ok_and(|e| e.is_empty());
            !network.is_predefined() && unused == wanted
        }
        _ => false,
    }
}
