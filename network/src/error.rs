//! What can go wrong with networks, worded as Docker's daemon words it where Docker has the
//! same failure (the CLI prints these after "Error response from daemon: ").

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The network library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A network failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network with name {0} already exists")]
    NameExists(String),
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    PoolOverlaps,
    #[error("invalid subnet {0}: invalid CIDR address: {0}")]
    InvalidSubnet(String),
    #[error("invalid subnet {given}: it should be {network}")]
    SubnetHostBits { given: String, network: String },
    #[error("invalid subnet {0}: it leaves no addresses for containers")]
    SubnetTooSmall(String),
    #[error("invalid subnet {0}: IPv6 networks are not supported")]
    Ipv6Unsupported(String),
    #[error("no matching subnet for gateway {0}")]
    GatewayOutsideSubnet(Ipv4Addr),
    #[error("invalid gateway {0}: it is the subnet's network or broadcast address")]
    GatewayReserved(Ipv4Addr),
    #[error("every ip-range or gateway must have a corresponding subnet")]
    GatewayWithoutSubnet,
    #[error("plugin \"{0}\" not found")]
    UnknownDriver(String),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    PoolsExhausted,
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network {reference} is ambiguous ({matches} matches found based on ID prefix)")]
    Ambiguous { reference: String, matches: usize },
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse { name: String, id: String },
    #[error("network {name} has no addresses to give: containers cannot join a {driver} network")]
    NotAttachable { name: String, driver: String },
    #[error("user specified IP address is supported on user defined networks only")]
    IpOnDefaultBridge,
    #[error("Invalid address {0}: It does not belong to any of this network's subnets")]
    AddressOutsideSubnet(Ipv4Addr),
    #[error("Address already in use")]
    AddressInUse,
    #[error("no available IPv4 addresses on this network's address pools: {name} ({id})")]
    AddressesExhausted { name: String, id: String },
    #[error("invalid MAC address: {0}")]
    InvalidMac(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt network record {}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("netlink {operation}: {source}")]
    Netlink {
        operation: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the network's daemon: {0}")]
    Daemon(String),
}

impl Error {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// `.context(...)` for I/O results inside this crate.
pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::io(context(), source))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|errno| Error::io(context(), std::io::Error::from(errno)))
    }
}
