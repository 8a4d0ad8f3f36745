//! The network part of a container's inspect JSON: `HostConfig`'s network flags and
//! `NetworkSettings` (Docker's shapes; addresses only while it runs, as Docker's).

use crate::container::network::PublishedPort;
use crate::container::Container;
use serde_json::{json, Map, Value};

/// `HostConfig.NetworkMode`, `PortBindings`, `PublishAllPorts`, `Dns*`, `Links`.
pub fn host_config(container: &Container) -> Map<String, Value> {
    let network = &container.config.network;
    let mut bindings: Map<String, Value> = Map::new();
    for spec in &network.publish {
        let entry = bindings.entry(spec.key()).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({
                "HostIp": spec.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                "HostPort": spec.host_port.map(|p| p.to_string()).unwrap_or_default(),
            }));
        }
    }
    let links: Vec<String> = network
        .links
        .iter()
        .map(|link| format!("/{}:/{}/{}", link.container, container.name, link.alias))
        .collect();
    let mut fields = Map::new();
    fields.insert("NetworkMode".into(), json!(network.mode));
    fields.insert("PortBindings".into(), Value::Object(bindings));
    fields.insert("PublishAllPorts".into(), json!(network.publish_all));
    fields.insert("Dns".into(), json!(network.dns));
    fields.insert("DnsSearch".into(), json!(network.dns_search));
    fields.insert("DnsOptions".into(), json!(network.dns_options));
    fields.insert("Links".into(), json!(Some(links).filter(|l| !l.is_empty())));
    fields
}

/// `NetworkSettings`.
pub fn settings(container: &Container) -> Value {
    let config = &container.config.network;
    let running = container
        .state
        .network
        .as_ref()
        .filter(|_| container.is_up());
    let mut ports: Map<String, Value> = container
        .config
        .exposed_ports
        .iter()
        .map(|port| (port.clone(), Value::Null))
        .collect();
    if let Some(state) = running {
        for port in &state.ports {
            let entry = ports
                .entry(format!("{}/{}", port.container_port, port.protocol))
                .or_insert(Value::Null);
            if entry.is_null() {
                *entry = json!([]);
            }
            if let Some(list) = entry.as_array_mut() {
                list.push(binding(port));
            }
        }
    }
    let text = |value: Option<String>| value.unwrap_or_default();
    let ip = text(running.map(|s| s.ip.to_string()));
    let gateway = text(running.and_then(|s| s.gateway).map(|g| g.to_string()));
    let mac = text(running.map(|s| s.mac.clone()));
    let prefix = running.map_or(0, |s| s.prefix_len);
    let mut networks = Map::new();
    if !config.is_none() {
        networks.insert(
            running.map_or_else(|| config.mode.clone(), |s| s.network.clone()),
            json!({
                "Aliases": Some(&config.aliases).filter(|a| !a.is_empty()),
                "NetworkID": text(running.map(|s| s.network_id.clone())),
                "EndpointID": text(running.map(|_| container.id.clone())),
                "Gateway": gateway,
                "IPAddress": ip,
                "IPPrefixLen": prefix,
                "MacAddress": mac,
            }),
        );
    } else {
        networks.insert(
            "none".into(),
            json!({"IPAddress": "", "Gateway": "", "MacAddress": ""}),
        );
    }
    let on_bridge = config.mode == crate::container::network::NETWORK_BRIDGE;
    json!({
        "Ports": ports,
        // Docker fills the top-level fields for the default bridge only.
        "IPAddress": if on_bridge { ip.clone() } else { String::new() },
        "IPPrefixLen": if on_bridge { prefix } else { 0 },
        "Gateway": if on_bridge { gateway.clone() } else { String::new() },
        "MacAddress": if on_bridge { mac.clone() } else { String::new() },
        "Networks": networks,
    })
}

fn binding(port: &PublishedPort) -> Value {
    json!({"HostIp": port.host_ip, "HostPort": port.host_port.to_string()})
}
