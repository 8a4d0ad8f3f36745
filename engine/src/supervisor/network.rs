//! A container's network while its VM runs: the address and tap its network gives it
//! (through `hull-network`, in the network's own namespace), the `-p` listeners on the
//! host, `--link` entries, and what the guest is told (the `io.hull.network` annotation).
//! Dropping an [`Attached`] gives the address back; the tap goes with the VMM.

use super::port_proxy::{BoundPorts, Dialer, PortProxies};
use crate::container::links::{self, LinkedContainer};
use crate::container::network::{NetworkState, PortSpec};
use crate::container::{Container, ContainerStore};
use crate::error::{Error, Result};
use crate::vm::NicSpec;
use hull_network::DaemonCommand;
use hull_network::{AttachRequest, NetnsHandle, Network, NetworkStore};
use hull_protocol::{GuestNetwork, RunSpec, ANNOTATION_EXTRA_HOSTS, ANNOTATION_NETWORK};
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where networks live and how their daemons start.
#[derive(Debug, Clone)]
pub struct Networking {
    /// `$HULL_ROOT`.
    pub root: std::path::PathBuf,
    /// `hull network-daemon` (None: networked containers are refused).
    pub daemon: Option<DaemonCommand>,
}

/// A container attached to its network for one boot.
pub struct Attached {
    /// The NIC the VM gets (taken into its `VmSpec`).
    pub nic: Option<NicSpec>,
    /// What `inspect`, `port` and `ps` show.
    pub state: NetworkState,
    guest: GuestNetwork,
    link_hosts: Vec<String>,
    link_env: Vec<String>,
    ports: Option<BoundPorts>,
    netns: NetnsHandle,
    store: NetworkStore,
    network: Network,
    container_id: String,
}

/// How long a `-p` connection into the container may take to be accepted.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Attaches `container` to the network its flags name (None with `--network none`).
pub fn attach(
    networking: &Networking,
    containers: &ContainerStore,
    container: &Container,
) -> Result<Option<Attached>> {
    let config = &container.config.network;
    if config.is_none() {
        return Ok(None);
    }
    let daemon = networking.daemon.as_ref().ok_or_else(|| {
        Error::InvalidArgument("this front-end cannot start networks: use --network none".into())
    })?;
    let store = NetworkStore::open(&networking.root).map_err(network_error)?;
    let network = store.get(&config.mode).map_err(network_error)?;
    let on_default_bridge = network.is_default_bridge();

    let mut link_hosts = Vec::new();
    let mut link_env = Vec::new();
    for link in &config.links {
        let linked = containers.find_current(&link.container).map_err(|_| {
            Error::InvalidArgument(format!("could not get container for {}", link.container))
        })?;
        let Some(state) = linked.state.network.as_ref().filter(|_| linked.is_up()) else {
            return Err(Error::InvalidArgument(format!(
                "Cannot link to a non running container: /{} AS /{}/{}",
                linked.name, container.name, link.alias
            )));
        };
        let view = LinkedContainer {
            alias: &link.alias,
            name: &linked.name,
            hostname: &linked.process.hostname,
            ip: state.ip,
            exposed_ports: &linked.config.exposed_ports,
            env: &linked.process.env,
        };
        link_hosts.push(links::hosts_line(&view));
        if on_default_bridge {
            link_env.extend(links::environment(&container.name, &view));
        }
    }

    let mut specs = config.publish.clone();
    if config.publish_all {
        for exposed in &container.config.exposed_ports {
            let (port, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
            let (Ok(container_port), true) = (port.parse(), protocol != "sctp") else {
                continue;
            };
            if !specs.iter().any(|s| s.key() == *exposed) {
                specs.push(PortSpec {
                    host_ip: None,
                    host_port: None,
                    container_port,
                    protocol: protocol.into(),
                });
            }
        }
    }
    // Bound first: a port in use fails the start before an address is taken.
    let ports = BoundPorts::bind(&specs).map_err(|message| {
        Error::InvalidArgument(format!(
            "driver failed programming external connectivity on endpoint {} ({}): {message}",
            container.name, container.id
        ))
    })?;

    // A container between leasing its address and `Running` (a concurrent start, as
    // docker-compose's) holds its disk lock: its lease is live too.
    let is_live = |id: &str| {
        containers.find_current(id).is_ok_and(|c| c.is_up())
            || super::helper::disks_in_use(&containers.paths(id).dir)
    };
    let request = AttachRequest {
        container_id: container.id.clone(),
        name: container.name.clone(),
        aliases: config.aliases.clone(),
        ip: config.ip,
        mac: config.mac.clone(),
    };
    let attachment = hull_network::attach(&store, &network, &request, daemon, &is_live)
        .map_err(network_error)?;
    let endpoint = attachment.endpoint.clone();
    let gateway = (!network.internal).then_some(attachment.gateway);
    let nameservers = if config.dns.is_empty() {
        // The network's own resolver answers on the gateway's address.
        vec![std::net::IpAddr::V4(attachment.gateway)]
    } else {
        config.dns.clone()
    };
    let mut options = config.dns_options.clone();
    if !on_default_bridge && options.is_empty() {
        // Docker's on user networks: container names have no dots.
        options.push("ndots:0".into());
    }
    let guest = GuestNetwork {
        mac: endpoint.mac.clone(),
        address: endpoint.ip,
        prefix_len: attachment.prefix_len,
        gateway,
        mtu: attachment.mtu,
        nameservers,
        search: config.dns_search.clone(),
        options,
    };
    let state = NetworkState {
        network: network.name.clone(),
        network_id: network.id.clone(),
        ip: endpoint.ip,
        prefix_len: attachment.prefix_len,
        gateway,
        mac: endpoint.mac.clone(),
        ports: ports.published(),
    };
    Ok(Some(Attached {
        nic: Some(NicSpec {
            tap: Some(Arc::new(attachment.tap)),
            mac: endpoint.mac,
        }),
        state,
        guest,
        link_hosts,
        link_env,
        ports: Some(ports),
        netns: attachment.netns,
        store,
        network,
        container_id: container.id.clone(),
    }))
}

impl Attached {
    /// Tells the guest about its interface, links and DNS (`run_spec` of this boot).
    pub fn configure(&self, run_spec: &mut RunSpec) -> Result<()> {
        let mut annotations = run_spec.config.annotations().clone().unwrap_or_default();
        annotations.insert(
            ANNOTATION_NETWORK.into(),
            serde_json::to_string(&self.guest).map_err(|e| Error::Internal(e.into()))?,
        );
        if !self.link_hosts.is_empty() {
            let mut lines: Vec<String> = annotations
                .get(ANNOTATION_EXTRA_HOSTS)
                .map(|text| text.lines().map(String::from).collect())
                .unwrap_or_default();
            lines.extend(self.link_hosts.iter().cloned());
            annotations.insert(ANNOTATION_EXTRA_HOSTS.into(), lines.join("\n"));
        }
        run_spec.config.set_annotations(Some(annotations));
        if !self.link_env.is_empty() {
            if let Some(mut process) = run_spec.config.process().clone() {
                // Docker: the link variables first, the container's own win over them.
                let own = process.env().clone().unwrap_or_default();
                let key = |entry: &str| entry.split('=').next().unwrap_or_default().to_string();
                let mut env: Vec<String> = self
                    .link_env
                    .iter()
                    .filter(|entry| !own.iter().any(|o| key(o) == key(entry)))
                    .cloned()
                    .collect();
                env.extend(own);
                process.set_env(Some(env));
                run_spec.config.set_process(Some(process));
            }
        }
        Ok(())
    }

    /// Starts forwarding the `-p` ports into the container (once).
    pub fn forward_ports(&mut self) -> Option<PortProxies> {
        let ports = self.ports.take()?;
        let dialer = NamespaceDialer(self.netns.try_clone().ok()?);
        Some(ports.forward(self.state.ip, Arc::new(dialer)))
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Err(err) = hull_network::detach(&self.store, &self.network, &self.container_id) {
            tracing::warn!(%err, "cannot give the container's address back");
        }
    }
}

/// Connects inside the network's namespace.
struct NamespaceDialer(NetnsHandle);

impl Dialer for NamespaceDialer {
    fn tcp(&self, target: SocketAddr) -> io::Result<TcpStream> {
        hull_network::in_namespace(&self.0, move || {
            TcpStream::connect_timeout(&target, DIAL_TIMEOUT)
        })
        .map_err(io::Error::other)?
    }

    fn udp(&self, target: SocketAddr) -> io::Result<UdpSocket> {
        hull_network::in_namespace(&self.0, move || {
            let socket = UdpSocket::bind("0.0.0.0:0")?;
            socket.connect(target)?;
            Ok(socket)
        })
        .map_err(io::Error::other)?
    }
}

fn network_error(err: hull_network::Error) -> Error {
    Error::Network(err)
}

/// `create`'s early checks: the network exists and takes the requested address and MAC
/// (Docker refuses these before the container exists).
pub fn check_request(
    root: &Path,
    container_name: &str,
    config: &crate::container::network::NetworkConfig,
) -> Result<()> {
    if config.is_none() {
        return Ok(());
    }
    let store = NetworkStore::open(root).map_err(network_error)?;
    let network = store.get(&config.mode).map_err(network_error)?;
    let request = AttachRequest {
        container_id: String::new(),
        name: container_name.to_string(),
        aliases: config.aliases.clone(),
        ip: config.ip,
        mac: config.mac.clone(),
    };
    hull_network::ipam::check_request(&network, &request).map_err(network_error)
}
