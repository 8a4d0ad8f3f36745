//! hull's container networks (issue 14).
//!
//! Every network lives in a network namespace of its own that hull creates: its bridge,
//! the containers' taps, the gateway address and its DNS resolver. hull never changes the
//! host namespace's interfaces, routes or firewall; containers on different networks
//! cannot reach each other because their namespaces share nothing.

pub mod dns;
pub mod endpoint;

pub use endpoint::Endpoint;
