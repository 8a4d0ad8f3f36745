//! The per-network DNS resolver, as Docker's embedded DNS server: on a user-defined network
//! containers resolve each other by container name, `--network-alias` and id (also those
//! started later: the records are read at query time), names of other networks do not
//! resolve, and everything else is relayed to the host's nameservers.
//!
//! The network's daemon binds a UDP socket on the gateway address, port 53, inside the
//! network's namespace and runs [`serve`]; [`Upstream`] is built before the daemon leaves the
//! host namespace, so the host's resolvers (also a 127.0.0.53 stub) stay reachable.
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
