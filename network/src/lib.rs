//! hull's container networks (issue 14).
//!
//! Every network lives in a network namespace of its own that hull creates: its bridge,
//! the containers' taps, the gateway address and its DNS resolver. hull never changes the
//! host namespace's interfaces, routes or firewall; containers on different networks
//! cannot reach each other because their namespaces share nothing.
//!
//! ## API
//! - [`NetworkStore`] (`NetworkStore::open(root)`, `$HULL_ROOT/networks/`): the records.
//!   `create(&CreateNetwork) -> Result<Network>`, `get(name | id | unique id prefix)`,
//!   `list()`, `endpoints(&Network) -> Vec<Endpoint>`, `remove(reference, in_use)`,
//!   `prune(in_use) -> Vec<String>`; `in_use: &dyn Fn(&Network) -> Vec<String>` names the
//!   containers that use a network (a non-empty answer refuses the removal).
//! - [`attach`]`(&store, &network, &AttachRequest, &DaemonCommand, is_live) ->
//!   Result<Attachment>`: starts the network's daemon if needed, leases an address
//!   (requested or first free; leases of containers `is_live(id)` says are gone are
//!   reclaimed), creates the tap on the bridge; the [`Attachment`] carries the tap fd, the
//!   [`Endpoint`], prefix length, gateway, MTU and the namespace ([`NetnsHandle`]).
//!   [`detach`]`(&store, &network, container_id)` frees the address; the tap vanishes
//!   when the VMM holding its fd ends.
//! - [`in_namespace`]`(&NetnsHandle, || ...)`: runs a closure on a fresh thread inside a
//!   network's namespace (e.g. to connect the port proxy's sockets into it).
//! - [`daemon::run`]`(root, network_id, &DaemonOptions)`: the body of `hull network-daemon
//!   NETWORK_ID`, the process that owns the namespace; see [`daemon`] for how it starts,
//!   how attachers find it and how it exits (idle for [`daemon::IDLE_TIMEOUT_ENV`] seconds,
//!   20 by default).
//! - [`subnet`]: CIDR parsing, overlap, Docker's default pools; [`ipam::mac_for`]:
//!   Docker's MAC for an address.

pub mod attach;
pub mod daemon;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod ipam;
mod locks;
pub mod netlink;
pub mod netns;
pub mod outbound;
pub mod store;
pub mod subnet;
pub mod tap;

pub use attach::{attach, detach, Attachment};
pub use daemon::{DaemonCommand, DaemonOptions};
pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use ipam::AttachRequest;
pub use netns::{in_namespace, NetnsHandle};
pub use store::{CreateNetwork, Network, NetworkStore};
