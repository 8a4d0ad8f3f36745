//! A container's network settings as `run`/`create` were given them (`--network`, `--ip`,
//! `--mac-address`, `--network-alias`, `--dns*`, `--link`, `-p`, `-P`), parsed with
//! Docker's rules; and what it got when it started (address, ports), for `inspect`,
//! `port` and `ps`.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// Docker's `none` network mode: only `lo`.
pub const NETWORK_NONE: &str = "none";
/// The default network.
pub const NETWORK_BRIDGE: &str = "bridge";

/// The network flags of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// `--network`: `bridge` (default), `none`, or a user network's name or id.
    pub mode: String,
    /// `--network-alias`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address`.
    #[serde(default)]
    pub mac: Option<String>,
    /// `--dns`.
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// `--dns-search`.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--link NAME[:ALIAS]`.
    #[serde(default)]
    pub links: Vec<Link>,
    /// `-p`.
    #[serde(default)]
    pub publish: Vec<PortSpec>,
    /// `-P`: every exposed port on a random host port.
    #[serde(default)]
    pub publish_all: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            mode: NETWORK_BRIDGE.into(),
            aliases: Vec::new(),
            ip: None,
            mac: None,
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            links: Vec::new(),
            publish: Vec::new(),
            publish_all: false,
        }
    }
}

impl NetworkConfig {
    /// Whether the container gets a network interface at all.
    pub fn is_none(&self) -> bool {
        self.mode == NETWORK_NONE
    }

    /// Docker's refusals of flag combinations, checked at `create`.
    pub fn validate(&self) -> Result<(), String> {
        match self.mode.as_str() {
            "host" => {
                return Err("--network host is not supported: every hull container is a VM with its own kernel and network stack; publish ports with -p instead".into())
            }
            mode if mode.starts_with("container:") => {
                return Err("--network container:NAME is not supported: each hull container is its own VM and cannot share another's network stack".into())
            }
            _ => {}
        }
        if self.is_none() {
            if !self.publish.is_empty() || self.publish_all {
                return Err(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                );
            }
            if !self.links.is_empty() {
                return Err("conflicting options: links and the none network mode".into());
            }
        }
        if self.mode == NETWORK_BRIDGE {
            if !self.aliases.is_empty() {
                return Err(
                    "network-scoped aliases are only supported for user-defined networks".into(),
                );
            }
            if self.ip.is_some() {
                return Err(
                    "user specified IP address is supported on user defined networks only".into(),
                );
            }
        }
        if let Some(mac) = &self.mac {
            parse_mac(mac).ok_or_else(|| format!("{mac} is not a valid mac address"))?;
        }
        Ok(())
    }
}

/// `--link NAME[:ALIAS]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked container's name (or id).
    pub container: String,
    /// The name this container knows it by (the name when no alias is given).
    pub alias: String,
}

impl std::str::FromStr for Link {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (container, alias) = text.split_once(':').unwrap_or((text, text));
        let (container, alias) = (
            container.trim_start_matches('/'),
            alias.trim_start_matches('/'),
        );
        if container.is_empty() || alias.is_empty() {
            return Err(format!(
                "invalid argument {text:?} for \"--link\" flag: bad format for links: {text}"
            ));
        }
        Ok(Self {
            container: container.into(),
            alias: alias.into(),
        })
    }
}

/// One `-p [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The host address to listen on; None: all (`0.0.0.0`).
    pub host_ip: Option<IpAddr>,
    /// The host port; None: one the kernel picks.
    pub host_port: Option<u16>,
    /// The container's port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

impl PortSpec {
    /// Docker's `80/tcp` key of the container side.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }
}

impl std::str::FromStr for PortSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid =
            |what: &str| format!("invalid argument {text:?} for \"-p, --publish\" flag: {what}");
        let (address, protocol) = match text.rsplit_once('/') {
            Some((address, protocol)) => (address, protocol.to_ascii_lowercase()),
            None => (text, "tcp".to_string()),
        };
        if protocol != "tcp" && protocol != "udp" {
            return Err(invalid(&format!("invalid proto: {protocol}")));
        }
        // IP:HOST:CTR, HOST:CTR or CTR; an IPv6 address comes in brackets.
        let (host_ip, rest) = match address.strip_prefix('[') {
            Some(bracketed) => {
                let (ip, rest) = bracketed
                    .split_once("]:")
                    .ok_or_else(|| invalid("bad IPv6 address"))?;
                (Some(ip), rest)
            }
            None if address.matches(':').count() == 2 => {
                let (ip, rest) = address.split_once(':').unwrap_or_default();
                (Some(ip), rest)
            }
            None => (None, address),
        };
        let (host_port, container_port) = match rest.split_once(':') {
            Some((host, container)) => (Some(host), container),
            None if host_ip.is_some() => return Err(invalid("missing container port")),
            None => (None, rest),
        };
        if container_port.contains('-') || host_port.is_some_and(|p| p.contains('-')) {
            return Err(invalid(
                "port ranges are not supported by hull yet: publish each port with its own -p",
            ));
        }
        let port = |text: &str| -> Result<u16, String> {
            text.parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| invalid(&format!("invalid containerPort: {text}")))
        };
        let host_ip = match host_ip.filter(|ip| !ip.is_empty()) {
            Some(ip) => Some(
                ip.parse::<IpAddr>()
                    .map_err(|_| invalid(&format!("invalid ip address: {ip}")))?,
            ),
            None => None,
        };
        let host_port = match host_port.filter(|p| !p.is_empty()) {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| invalid(&format!("invalid hostPort: {p}")))?,
            ),
            None => None,
        };
        Ok(Self {
            host_ip,
            host_port,
            container_port: port(container_port)?,
            protocol,
        })
    }
}

/// What a running container got on its network (Docker's `NetworkSettings`); None while
/// it does not run or with `--network none`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    /// The network's name.
    pub network: String,
    /// The network's id.
    pub network_id: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The network's prefix length.
    pub prefix_len: u8,
    /// The gateway.
    pub gateway: Option<Ipv4Addr>,
    /// The interface's MAC.
    pub mac: String,
    /// The ports published on the host.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

/// One host address forwarding to a container port (Docker's `PortBinding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The container's port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address it listens on.
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
}

/// `02:42:ac:11:00:02` as bytes, or None.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut bytes = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut bytes {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> PortSpec {
        text.parse().unwrap()
    }

    #[test]
    fn port_specs_parse_as_dockers() {
        assert_eq!(
            spec("80"),
            PortSpec {
                host_ip: None,
                host_port: None,
                container_port: 80,
                protocol: "tcp".into()
            }
        );
        assert_eq!(spec("8080:80").host_port, Some(8080));
        let full = spec("127.0.0.1:8080:80/udp");
        assert_eq!(full.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            (full.host_port, full.key().as_str()),
            (Some(8080), "80/udp")
        );
        let random = spec("127.0.0.1::80");
        assert_eq!((random.host_ip.is_some(), random.host_port), (true, None));
        assert_eq!(spec("[::1]:8080:80").host_ip, Some("::1".parse().unwrap()));
        for bad in [
            "",
            "0",
            "80/sctp",
            "x:80",
            "1.2.3:80:80",
            "70000",
            "8000-8001:80-81",
            "127.0.0.1:80",
        ] {
            assert!(bad.parse::<PortSpec>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn links_take_an_optional_alias() {
        let link: Link = "web:db".parse().unwrap();
        assert_eq!(
            (link.container.as_str(), link.alias.as_str()),
            ("web", "db")
        );
        let link: Link = "/web".parse().unwrap();
        assert_eq!(
            (link.container.as_str(), link.alias.as_str()),
            ("web", "web")
        );
        assert!("web:".parse::<Link>().is_err());
        assert!(":db".parse::<Link>().is_err());
    }

    #[test]
    fn docker_refuses_these_combinations() {
        let config = |mode: &str| NetworkConfig {
            mode: mode.into(),
            ..NetworkConfig::default()
        };
        assert!(config("host")
            .validate()
            .unwrap_err()
            .contains("own kernel"));
        assert!(config("container:web").validate().is_err());
        let mut none = config(NETWORK_NONE);
        assert!(none.validate().is_ok());
        none.publish.push(spec("80"));
        assert!(none.validate().is_err());
        let mut bridge = config(NETWORK_BRIDGE);
        bridge.aliases.push("x".into());
        assert!(bridge.validate().unwrap_err().contains("user-defined"));
        let mut user = config("mynet");
        user.aliases.push("x".into());
        user.ip = Some(Ipv4Addr::new(172, 18, 0, 9));
        assert!(user.validate().is_ok());
        user.mac = Some("02:42:zz:00:00:01".into());
        assert!(user.validate().is_err());
    }

    #[test]
    fn macs_parse_only_in_full() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02"),
            Some([2, 0x42, 0xac, 0x11, 0, 2])
        );
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad:?}");
        }
    }
}
