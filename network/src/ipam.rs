//! Address management: a container's address on a network is the file
//! `endpoints/<ip>.json` (its [`Endpoint`]), created exclusively (written aside, then
//! hard-linked into place, which fails if the name exists), so two attachers can never get
//! the same address and a reader never sees a half-written lease. Leases of containers that
//! no longer run are reclaimed when an address is wanted.

use crate::error::{Error, IoContext, Result};
use crate::store::{Network, NetworkStore};
use crate::Endpoint;
use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// What a container asks of a network.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    /// The container's full id.
    pub container_id: String,
    /// Its name (without a leading `/`).
    pub name: String,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip` (user networks only, as Docker).
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address`; derived from the address when None.
    pub mac: Option<String>,
}

/// A lease file and the endpoint it records.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub path: PathBuf,
    pub endpoint: Endpoint,
}

/// Docker's MAC for an address: 02:42 then the address's four bytes.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// Checks a `--mac-address`: six hex pairs separated by `:` (or `-`), a unicast address;
/// returns it lower-case with colons.
pub fn parse_mac(text: &str) -> Result<String> {
    let invalid = || Error::InvalidMac(text.to_string());
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return Err(invalid());
    }
    let bytes = parts
        .iter()
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    if bytes[0] & 1 == 1 {
        // A multicast address cannot be an interface's.
        return Err(invalid());
    }
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// The leases in `dir` (unreadable or half-gone ones are skipped), sorted by address.
pub(crate) fn read_leases(dir: &Path) -> Result<Vec<Lease>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::io(format!("cannot read {}", dir.display()), err)),
    };
    let mut leases = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_lease = path.extension().is_some_and(|ext| ext == "json")
            && !entry.file_name().to_string_lossy().starts_with('.');
        if !is_lease {
            continue;
        }
        let Ok(json) = fs::read(&path) else { continue };
        match serde_json::from_slice::<Endpoint>(&json) {
            Ok(endpoint) => leases.push(Lease { path, endpoint }),
            Err(err) => tracing::warn!("skipping unreadable lease {}: {err}", path.display()),
        }
    }
    leases.sort_by_key(|lease| lease.endpoint.ip);
    Ok(leases)
}

/// Leases an address on `network` for `request`: the requested one, else the one the
/// container had before on this network if free, else the first free host address (never
/// the network, gateway or broadcast address). The container's earlier lease, and leases of
/// containers `is_live` says are gone, are removed first.
pub fn allocate(
    store: &NetworkStore,
    network: &Network,
    request: &AttachRequest,
    is_live: &dyn Fn(&str) -> bool,
) -> Result<Endpoint> {
    let (subnet, gateway) = network.addressing()?;
    check_request(network, request)?;
    let mac = request.mac.as_deref().map(parse_mac).transpose()?;
    let dir = store.endpoints_dir(&network.id);
    fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let mut previous = None;
    let mut taken = Vec::new();
    for lease in read_leases(&dir)? {
        let mine = lease.endpoint.container_id == request.container_id;
        if mine || !is_live(&lease.endpoint.container_id) {
            if mine {
                previous = Some(lease.endpoint.ip);
            }
            remove_lease(&lease.path)?;
        } else {
            taken.push(lease.endpoint.ip);
        }
    }
    let endpoint_for = |ip: Ipv4Addr| Endpoint {
        container_id: request.container_id.clone(),
        name: request.name.clone(),
        aliases: request.aliases.clone(),
        ip,
        mac: mac.clone().unwrap_or_else(|| mac_for(ip)),
    };
    if let Some(ip) = request.ip {
        let endpoint = endpoint_for(ip);
        return if write_lease(&dir, &endpoint)? {
            Ok(endpoint)
        } else {
            Err(Error::AddressInUse)
        };
    }
    let candidates = previous
        .into_iter()
        .chain(crate::subnet::host_addresses(subnet))
        .filter(|ip| *ip != gateway && !taken.contains(ip));
    for ip in candidates {
        let endpoint = endpoint_for(ip);
        // Lost a race for this one: try the next.
        if write_lease(&dir, &endpoint)? {
            return Ok(endpoint);
        }
    }
    Err(Error::AddressesExhausted {
        name: network.name.clone(),
        id: network.id.clone(),
    })
}

/// Refuses what no allocation could satisfy: `--ip` on the default bridge or outside the
/// subnet (or the gateway's), a malformed `--mac-address`, a network without addresses.
pub fn check_request(network: &Network, request: &AttachRequest) -> Result<()> {
    let (subnet, gateway) = network.addressing()?;
    if request.ip.is_some() && network.is_default_bridge() {
        return Err(Error::IpOnDefaultBridge);
    }
    if let Some(mac) = &request.mac {
        parse_mac(mac)?;
    }
    if let Some(ip) = request.ip {
        if !subnet.contains(&ip) || ip == subnet.network() || ip == subnet.broadcast() {
            return Err(Error::AddressOutsideSubnet(ip));
        }
        if ip == gateway {
            return Err(Error::AddressInUse);
        }
    }
    Ok(())
}

/// Removes `container_id`'s leases on `network` (its address is free again).
pub fn release(store: &NetworkStore, network: &Network, container_id: &str) -> Result<()> {
    for lease in read_leases(&store.endpoints_dir(&network.id))? {
        if lease.endpoint.container_id == container_id {
            remove_lease(&lease.path)?;
        }
    }
    Ok(())
}

fn remove_lease(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != ErrorKind::NotFound => {
            Err(Error::io(format!("cannot remove {}", path.display()), err))
        }
        _ => Ok(()),
    }
}

/// Writes `endpoint`'s lease if its address is free; false if another lease holds it.
fn write_lease(dir: &Path, endpoint: &Endpoint) -> Result<bool> {
    let path = dir.join(format!("{}.json", endpoint.ip));
    let staging = dir.join(format!(
        ".{}-{}.tmp",
        endpoint.container_id,
        std::process::id()
    ));
    let json = serde_json::to_vec_pretty(endpoint).map_err(std::io::Error::other);
    let written = json
        .and_then(|json| fs::write(&staging, json))
        .context(|| format!("cannot write {}", staging.display()));
    let linked = written.and_then(|()| match fs::hard_link(&staging, &path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(Error::io(format!("cannot write {}", path.display()), err)),
    });
    let _ = fs::remove_file(&staging);
    linked
}

#[cfg(test)]
mod tests;
