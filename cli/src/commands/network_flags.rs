//! `run`/`create`'s network flags (Docker's names and parsing; the engine validates the
//! combinations).

use hull_engine::container::network::{Link, NetworkConfig, PortSpec};
use std::net::{IpAddr, Ipv4Addr};

/// `--network` and the flags that go with it.
#[derive(Debug, clap::Args)]
pub struct NetworkFlags {
    /// Connect a container to a network: bridge (default), none, or a network's name.
    #[arg(
        long = "network",
        visible_alias = "net",
        value_name = "NETWORK",
        default_value = "bridge"
    )]
    pub network: String,
    /// Add a network-scoped alias for the container.
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "ALIAS"
    )]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    pub ip: Option<Ipv4Addr>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33).
    #[arg(long = "mac-address", value_name = "MAC")]
    pub mac_address: Option<String>,
    /// Set custom DNS servers.
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<IpAddr>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Add link to another container (name[:alias]).
    #[arg(long = "link", value_name = "NAME[:ALIAS]")]
    pub link: Vec<Link>,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto]).
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<PortSpec>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
}

impl NetworkFlags {
    /// The engine's network settings for these flags.
    pub fn config(&self) -> NetworkConfig {
        NetworkConfig {
            mode: self.network.clone(),
            aliases: self.network_alias.clone(),
            ip: self.ip,
            mac: self.mac_address.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            links: self.link.clone(),
            publish: self.publish.clone(),
            publish_all: self.publish_all,
        }
    }
}
