//! The per-network DNS resolver, as Docker's embedded DNS server: on a user-defined network
//! containers resolve each other by container name, `--network-alias` and id (also those
//! started later: the records are read at query time), names of other networks do not
//! resolve, and everything else is relayed to the host's nameservers.
//!
//! The network's daemon binds a UDP socket on the gateway address, port 53, inside the
//! network's namespace and runs [`serve`]; [`Upstream`] is built before the daemon leaves the
//! host namespace, so the host's resolvers (also a 127.0.0.53 stub) stay reachable.
//!
//! ```no_run
//! use hull_network::dns::{serve_with_tcp, EndpointDir, Upstream};
//! use std::net::{TcpListener, UdpSocket};
//! use std::path::Path;
//! use std::sync::atomic::AtomicBool;
//! use std::sync::Arc;
//!
//! static STOP: AtomicBool = AtomicBool::new(false);
//! # fn main() -> std::io::Result<()> {
//! // In the host namespace, before unshare/setns (none for an --internal network):
//! let upstream = Upstream::from_resolv_conf(Path::new("/etc/resolv.conf"))?;
//! // ... then inside the network's namespace:
//! let udp = UdpSocket::bind("172.18.0.1:53")?;
//! let tcp = TcpListener::bind("172.18.0.1:53")?;
//! let names = EndpointDir::new("/var/lib/hull/networks/0123/endpoints").with_network_name("mynet");
//! serve_with_tcp(udp, tcp, Arc::new(names), Some(upstream), &STOP)?;
//! # Ok(())
//! # }
//! ```
//!
//! Docker's behaviour referenced throughout is moby's `libnetwork/resolver.go`
//! (`serveDNS`, `handleIPQuery`, `handleMXQuery`, `handlePTRQuery`, `forwardExtDNS`).

mod answer;
mod names;
mod serve;
mod tcp;
mod upstream;

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod serve_tests;

pub use answer::{answer, Answer, ForwardedQuery, RESPONSE_TTL};
pub use names::{EndpointDir, Names};
pub use serve::{serve, serve_with_tcp};
pub use upstream::{parse_resolv_conf, Upstream};
