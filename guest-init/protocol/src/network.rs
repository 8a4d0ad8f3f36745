//! The container's network interface as the guest configures it (issue 14): the host picks
//! the address on one of its networks and the MAC of the VM's virtio-net device; hull-init
//! finds the interface by that MAC, names it `eth0`, brings it up with the address, the
//! default route and the MTU, and writes `/etc/resolv.conf`, all before the user's process
//! starts. Carried as JSON in the spec annotation [`ANNOTATION_NETWORK`]; without it the
//! container has only `lo` (`--network none`).

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// OCI spec annotation: the container's [`GuestNetwork`], as JSON.
pub const ANNOTATION_NETWORK: &str = "io.hull.network";

/// One network interface of the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNetwork {
    /// The virtio-net device's MAC (`02:42:ac:11:00:02`): how the guest finds it.
    pub mac: String,
    /// The container's address.
    pub address: Ipv4Addr,
    /// The network's prefix length (16 for 172.17.0.0/16).
    pub prefix_len: u8,
    /// The default route's gateway; None on an `--internal` network.
    pub gateway: Option<Ipv4Addr>,
    /// The interface MTU.
    pub mtu: u32,
    /// `nameserver` lines of /etc/resolv.conf, in order.
    pub nameservers: Vec<IpAddr>,
    /// The `search` domains of /etc/resolv.conf.
    #[serde(default)]
    pub search: Vec<String>,
    /// The `options` of /etc/resolv.conf (e.g. `ndots:0`).
    #[serde(default)]
    pub options: Vec<String>,
}

impl GuestNetwork {
    /// The contents of /etc/resolv.conf for this interface.
    pub fn resolv_conf(&self) -> String {
        let mut text = String::new();
        for server in &self.nameservers {
            text.push_str(&format!("nameserver {server}\n"));
        }
        if !self.search.is_empty() {
            text.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_lists_servers_then_search_then_options() {
        let net = GuestNetwork {
            mac: "02:42:ac:11:00:02".into(),
            address: Ipv4Addr::new(172, 17, 0, 2),
            prefix_len: 16,
            gateway: Some(Ipv4Addr::new(172, 17, 0, 1)),
            mtu: 1500,
            nameservers: vec!["172.17.0.1".parse().unwrap()],
            search: vec!["example.test".into()],
            options: vec!["ndots:0".into()],
        };
        assert_eq!(
            net.resolv_conf(),
            "nameserver 172.17.0.1\nsearch example.test\noptions ndots:0\n"
        );
        let json = serde_json::to_string(&net).unwrap();
        assert_eq!(serde_json::from_str::<GuestNetwork>(&json).unwrap(), net);
    }
}
