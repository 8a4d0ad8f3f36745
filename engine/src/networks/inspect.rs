//! `network inspect`'s document, in Docker's shape and field names.

use hull_network::{Endpoint, Network};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The option that says what the network's containers reach beyond it (pasta or nothing).
pub const OUTBOUND_OPTION: &str = "io.hull.network.outbound";

/// One network as `docker network inspect` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInspect {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigFrom,
    pub config_only: bool,
    pub containers: BTreeMap<String, ContainerEndpoint>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// `IPAM`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: String,
    pub options: Option<BTreeMap<String, String>>,
    pub config: Vec<IpamConfig>,
}

/// One `IPAM.Config` entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
}

/// `ConfigFrom`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFrom {
    pub network: String,
}

/// One `Containers` entry, keyed by the container's full id.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerEndpoint {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

impl NetworkInspect {
    /// The document for `network` with `endpoints` attached.
    pub fn new(network: &Network, endpoints: &[Endpoint]) -> Self {
        let prefix = network.subnet.map(|s| s.prefix_len()).unwrap_or(32);
        let containers = endpoints
            .iter()
            .map(|endpoint| {
                (
                    endpoint.container_id.clone(),
                    ContainerEndpoint {
                        name: endpoint.name.clone(),
                        endpoint_id: endpoint_id(network, endpoint),
                        mac_address: endpoint.mac.clone(),
                        ipv4_address: format!("{}/{prefix}", endpoint.ip),
                        ipv6_address: String::new(),
                    },
                )
            })
            .collect();
        let config = match (network.subnet, network.gateway) {
            (Some(subnet), Some(gateway)) => vec![IpamConfig {
                subnet: subnet.to_string(),
                gateway: gateway.to_string(),
            }],
            _ => Vec::new(),
        };
        let mut options = BTreeMap::new();
        if network.subnet.is_some() {
            options.insert(
                OUTBOUND_OPTION.into(),
                hull_network::outbound::describe(network.internal),
            );
        }
        if network.is_default_bridge() {
            options.insert(
                "com.docker.network.bridge.default_bridge".into(),
                "true".into(),
            );
            options.insert(
                "com.docker.network.driver.mtu".into(),
                hull_network::daemon::MTU.to_string(),
            );
        }
        Self {
            name: network.name.clone(),
            id: network.id.clone(),
            created: network.created.clone(),
            scope: "local".into(),
            driver: network.driver.clone(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                // Docker: null for the predefined networks, {} for user ones.
                options: (!network.is_predefined()).then(BTreeMap::new),
                config,
            },
            internal: network.internal,
            attachable: false,
            ingress: false,
            config_from: ConfigFrom {
                network: String::new(),
            },
            config_only: false,
            containers,
            options,
            labels: network.labels.clone(),
        }
    }
}

/// A stable 64-hex id for a container's endpoint on a network.
fn endpoint_id(network: &Network, endpoint: &Endpoint) -> String {
    let digest = Sha256::digest(format!("{}/{}", network.id, endpoint.container_id));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
