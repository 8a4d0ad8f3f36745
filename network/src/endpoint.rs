//! A container's attachment to a network, as recorded in the network's directory
//! (`$HULL_ROOT/networks/<id>/endpoints/<ip>.json`, created with O_EXCL so the file is
//! also the address lease): what the DNS resolver answers from and `network inspect` lists.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// One container on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The container's full id.
    pub container_id: String,
    /// The container's name (without Docker's leading `/`): resolvable on user networks.
    pub name: String,
    /// `--network-alias` names, also resolvable.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's address on this network.
    pub ip: Ipv4Addr,
    /// The MAC of its interface (`02:42:ac:11:00:02`).
    pub mac: String,
}

impl Endpoint {
    /// Whether `name` (case-insensitive, a trailing dot allowed) names this endpoint: its
    /// container name, an alias, or the short (12 hex) or full container id, as Docker's
    /// resolver answers.
    pub fn answers_to(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return false;
        }
        let short_id = self.container_id.get(..12).unwrap_or(&self.container_id);
        self.name.eq_ignore_ascii_case(name)
            || self
                .aliases
                .iter()
                .any(|alias| alias.eq_ignore_ascii_case(name))
            || short_id.eq_ignore_ascii_case(name)
            || self.container_id.eq_ignore_ascii_case(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_answers_to_its_name_aliases_and_ids() {
        let endpoint = Endpoint {
            container_id: "0123456789abcdef0123".into(),
            name: "web".into(),
            aliases: vec!["www".into()],
            ip: Ipv4Addr::new(172, 18, 0, 2),
            mac: "02:42:ac:12:00:02".into(),
        };
        for name in [
            "web",
            "WEB",
            "web.",
            "www",
            "0123456789ab",
            "0123456789abcdef0123",
        ] {
            assert!(endpoint.answers_to(name), "{name}");
        }
        for name in ["", ".", "db", "0123456789a", "web.example"] {
            assert!(!endpoint.answers_to(name), "{name}");
        }
    }
}
