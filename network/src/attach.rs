//! Joining and leaving a network: [`attach`] gives a container an address and a tap on
//! the network's bridge, [`detach`] frees the address (the tap goes with the VMM's fd).

use crate::daemon::{self, DaemonCommand, BRIDGE, MTU};
use crate::error::Result;
use crate::ipam::{self, AttachRequest};
use crate::netlink::Rtnl;
use crate::netns::{in_namespace, NetnsHandle};
use crate::store::{Network, NetworkStore};
use crate::tap::create_tap;
use crate::Endpoint;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

/// A container's interface on a network, ready for its VMM.
#[derive(Debug)]
pub struct Attachment {
    /// The tap on the network's bridge (`IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, close-on-exec,
    /// non-blocking; the VMM sets the vnet header size and offloads it uses). Closing it
    /// (the VMM ending) removes the tap.
    pub tap: OwnedFd,
    /// The tap's name in the network's namespace (`tapN`).
    pub tap_name: String,
    /// The lease: address, MAC, names.
    pub endpoint: Endpoint,
    /// The subnet's prefix length (the guest's eth0 is `endpoint.ip/prefix_len`).
    pub prefix_len: u8,
    /// The guest's default gateway (and DNS server on user networks).
    pub gateway: Ipv4Addr,
    pub mtu: u32,
    /// The network's namespace (e.g. to connect a port proxy into it with
    /// [`crate::in_namespace`]); holding it keeps the namespace alive.
    pub netns: NetnsHandle,
}

/// Attaches a container to `network`: makes sure the network's daemon runs (starting it
/// with `daemon` and waiting for its namespace and bridge), leases an address (see
/// [`ipam::allocate`]; `is_live` says whether a container holding a lease still runs, so
/// dead containers' leases are reclaimed), and creates the container's tap on the bridge.
/// Nothing is left behind on error.
pub fn attach(
    store: &NetworkStore,
    network: &Network,
    request: &AttachRequest,
    daemon: &DaemonCommand,
    is_live: &dyn Fn(&str) -> bool,
) -> Result<Attachment> {
    let (subnet, gateway) = network.addressing()?;
    ipam::check_request(network, request)?;
    // Held until the lease exists, so the daemon cannot decide to exit meanwhile.
    let (netns, _attachers) = daemon::ensure_running(store, network, daemon)?;
    let endpoint = ipam::allocate(store, network, request, is_live)?;
    let tap = in_namespace(&netns, || -> Result<(OwnedFd, String)> {
        let (tap, name) = create_tap()?;
        let mut rtnl = Rtnl::open()?;
        let bridge = rtnl.index_of(BRIDGE)?;
        let index = rtnl.index_of(&name)?;
        rtnl.set_controller(index, bridge)?;
        rtnl.set_up(index)?;
        Ok((tap, name))
    })
    .and_then(|made| made);
    let (tap, tap_name) = match tap {
        Ok(made) => made,
        Err(err) => {
            let _ = ipam::release(store, network, &request.container_id);
            return Err(err);
        }
    };
    Ok(Attachment {
        tap,
        tap_name,
        endpoint,
        prefix_len: subnet.prefix_len(),
        gateway,
        mtu: MTU,
        netns,
    })
}

/// Detaches `container_id` from `network`: its address is free again. Its tap disappears
/// when the VMM holding the tap's fd ends.
pub fn detach(store: &NetworkStore, network: &Network, container_id: &str) -> Result<()> {
    ipam::release(store, network, container_id)
}
