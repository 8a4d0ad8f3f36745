//! The networks under one root: `$HULL_ROOT/networks/<id>/network.json`, one directory per
//! network that also holds its address leases (`endpoints/<ip>.json`, see [`crate::ipam`])
//! and its daemon's pid file and locks (see [`crate::daemon`]).
//!
//! Writers (create, remove) hold `networks/.lock` so that name and subnet checks and the
//! write are one step; a network directory appears by rename (complete or not at all) and
//! disappears by rename then delete, so no error leaves a half-made network behind.

use crate::error::{Error, IoContext, Result};
use crate::subnet;
use crate::Endpoint;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The name of Docker's default network.
pub const DEFAULT_BRIDGE: &str = "bridge";
/// The predefined networks that always exist and cannot be removed (as Docker's).
pub const PREDEFINED: [&str; 3] = [DEFAULT_BRIDGE, "host", "none"];
/// The only driver user networks can have.
pub const BRIDGE_DRIVER: &str = "bridge";

/// One network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    /// Unique among the networks.
    pub name: String,
    /// `bridge`, or `host`/`null` for the predefined `host` and `none`.
    pub driver: String,
    /// The addresses containers get (None for `host` and `none`).
    pub subnet: Option<Ipv4Net>,
    /// The bridge's own address in the network's namespace (None for `host` and `none`).
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`: no way out of the network's namespace.
    #[serde(default)]
    pub internal: bool,
    /// `--label`s.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When it was created (RFC 3339).
    pub created: String,
}

impl Network {
    /// The network's short id, as `network ls` prints it.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }

    /// Whether it is one of Docker's predefined networks (`bridge`, `host`, `none`).
    pub fn is_predefined(&self) -> bool {
        PREDEFINED.contains(&self.name.as_str())
    }

    /// Whether it is the default `bridge` (no DNS names, no `--ip`).
    pub fn is_default_bridge(&self) -> bool {
        self.name == DEFAULT_BRIDGE
    }

    /// Its subnet and gateway: containers can join only networks that have them.
    pub fn addressing(&self) -> Result<(Ipv4Net, Ipv4Addr)> {
        match (self.subnet, self.gateway) {
            (Some(subnet), Some(gateway)) => Ok((subnet, gateway)),
            _ => Err(Error::NotAttachable {
                name: self.name.clone(),
                driver: self.driver.clone(),
            }),
        }
    }
}

/// `network create`'s request.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    /// `-d`: only `bridge` (the default when None).
    pub driver: Option<String>,
    /// `--subnet`, as typed (validated here); the first free default pool when None.
    pub subnet: Option<String>,
    /// `--gateway`; the subnet's first host address when None.
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// The networks under one root.
#[derive(Debug, Clone)]
pub struct NetworkStore {
    dir: PathBuf,
}

impl NetworkStore {
    /// The networks under `root` (`$HULL_ROOT`, in `networks/`); the predefined `bridge`,
    /// `host` and `none` are recorded on first open.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("networks");
        fs::create_dir_all(&dir).context(|| {
            format!(
                "cannot create {}: run as root or point --root/HULL_ROOT at a writable directory",
                dir.display()
            )
        })?;
        let store = Self { dir };
        store.record_predefined()?;
        Ok(store)
    }

    /// `networks/` itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of network `id`.
    pub fn network_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Where network `id` keeps its address leases.
    pub fn endpoints_dir(&self, id: &str) -> PathBuf {
        self.network_dir(id).join("endpoints")
    }

    fn writers_lock(&self) -> Result<crate::locks::Held> {
        crate::locks::exclusive(&self.dir.join(".lock"))
    }

    fn record_predefined(&self) -> Result<()> {
        let wanted = |name: &str| {
            let (driver, subnet, gateway) = match name {
                DEFAULT_BRIDGE => (
                    BRIDGE_DRIVER,
                    Some(subnet::DEFAULT_BRIDGE_SUBNET),
                    Some(subnet::first_host(subnet::DEFAULT_BRIDGE_SUBNET)),
                ),
                "host" => ("host", None, None),
                _ => ("null", None, None),
            };
            (driver, subnet, gateway)
        };
        let existing = self.list()?;
        if PREDEFINED
            .iter()
            .all(|name| existing.iter().any(|n| n.name == *name))
        {
            return Ok(());
        }
        let _writers = self.writers_lock()?;
        let existing = self.list()?;
        for name in PREDEFINED {
            if existing.iter().any(|n| n.name == name) {
                continue;
            }
            let (driver, subnet, gateway) = wanted(name);
            self.write_new(&Network {
                id: new_id()?,
                name: name.to_string(),
                driver: driver.to_string(),
                subnet,
                gateway,
                internal: false,
                labels: BTreeMap::new(),
                created: now_rfc3339(),
            })?;
        }
        Ok(())
    }

    /// Creates a network: a unique name, a valid subnet that overlaps no other network's
    /// (the first free default pool when none is given) and its gateway.
    pub fn create(&self, request: &CreateNetwork) -> Result<Network> {
        let driver = request.driver.as_deref().unwrap_or(BRIDGE_DRIVER);
        if driver != BRIDGE_DRIVER {
            return Err(Error::UnknownDriver(driver.to_string()));
        }
        let requested_subnet = request
            .subnet
            .as_deref()
            .map(subnet::parse_subnet)
            .transpose()?;
        if requested_subnet.is_none() && request.gateway.is_some() {
            return Err(Error::GatewayWithoutSubnet);
        }
        let _writers = self.writers_lock()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == request.name) {
            return Err(Error::NameExists(request.name.clone()));
        }
        let taken: Vec<Ipv4Net> = existing.iter().filter_map(|n| n.subnet).collect();
        let subnet = match requested_subnet {
            Some(wanted) if taken.iter().any(|used| subnet::overlaps(wanted, *used)) => {
                return Err(Error::PoolOverlaps)
            }
            Some(wanted) => wanted,
            None => subnet::first_free_pool(&taken)?,
        };
        let gateway = subnet::gateway_for(subnet, request.gateway)?;
        let network = Network {
            id: new_id()?,
            name: request.name.clone(),
            driver: driver.to_string(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            internal: request.internal,
            labels: request.labels.clone(),
            created: now_rfc3339(),
        };
        self.write_new(&network)?;
        Ok(network)
    }

    /// Writes a new network's directory complete under a temporary name, then renames it
    /// into place.
    fn write_new(&self, network: &Network) -> Result<()> {
        let staging = self.dir.join(format!(".new-{}", network.id));
        let written = (|| {
            fs::create_dir_all(staging.join("endpoints"))?;
            let json = serde_json::to_vec_pretty(network).map_err(std::io::Error::other)?;
            fs::write(staging.join("network.json"), json)?;
            fs::rename(&staging, self.network_dir(&network.id))
        })();
        if written.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        written.context(|| format!("cannot record network {}", network.name))
    }

    /// The network `reference` names: its full id, its name, or a unique prefix of its id
    /// (Docker's order).
    pub fn get(&self, reference: &str) -> Result<Network> {
        let networks = self.list()?;
        if let Some(network) = networks.iter().find(|n| n.id == reference) {
            return Ok(network.clone());
        }
        if let Some(network) = networks.iter().find(|n| n.name == reference) {
            return Ok(network.clone());
        }
        let by_prefix: Vec<&Network> = if reference.is_empty() {
            Vec::new()
        } else {
            networks
                .iter()
                .filter(|n| n.id.starts_with(reference))
                .collect()
        };
        match by_prefix.as_slice() {
            [network] => Ok((*network).clone()),
            [] => Err(Error::NotFound(reference.to_string())),
            many => Err(Error::Ambiguous {
                reference: reference.to_string(),
                matches: many.len(),
            }),
        }
    }

    /// Every network, sorted by name (as `network ls` shows them).
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut networks = Vec::new();
        let entries =
            fs::read_dir(&self.dir).context(|| format!("cannot read {}", self.dir.display()))?;
        for entry in entries {
            let entry = entry.context(|| format!("cannot read {}", self.dir.display()))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path().join("network.json");
            match fs::read(&path) {
                Ok(json) => networks.push(
                    serde_json::from_slice(&json)
                        .map_err(|source| Error::Corrupt { path, source })?,
                ),
                // Removed meanwhile.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(format!("cannot read {}", path.display()), err)),
            }
        }
        networks.sort_by(|a: &Network, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    /// The containers attached to `network` (its address leases), sorted by address.
    pub fn endpoints(&self, network: &Network) -> Result<Vec<Endpoint>> {
        crate::ipam::read_leases(&self.endpoints_dir(&network.id))
            .map(|leases| leases.into_iter().map(|lease| lease.endpoint).collect())
    }

    /// Removes the network `reference` names unless it is predefined or `in_use` names a
    /// container on it. Attachers are held off meanwhile (see [`crate::daemon`]); the
    /// network's daemon, if any, is stopped.
    pub fn remove(
        &self,
        reference: &str,
        in_use: &dyn Fn(&Network) -> Vec<String>,
    ) -> Result<Network> {
        let _writers = self.writers_lock()?;
        let network = self.get(reference)?;
        if network.is_predefined() {
            return Err(Error::Predefined(network.name));
        }
        self.remove_unused(&network, in_use)?;
        Ok(network)
    }

    /// Removes every user network `in_use` names no container on; returns their names.
    pub fn prune(&self, in_use: &dyn Fn(&Network) -> Vec<String>) -> Result<Vec<String>> {
        let _writers = self.writers_lock()?;
        let mut removed = Vec::new();
        for network in self.list()? {
            if network.is_predefined() {
                continue;
            }
            match self.remove_unused(&network, in_use) {
                Ok(()) => removed.push(network.name),
                Err(Error::InUse { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(removed)
    }

    /// With the writers' lock held.
    fn remove_unused(
        &self,
        network: &Network,
        in_use: &dyn Fn(&Network) -> Vec<String>,
    ) -> Result<()> {
        let dir = self.network_dir(&network.id);
        // No attacher is between looking the daemon up and writing its lease now.
        let _attachers = crate::locks::exclusive(&dir.join(crate::daemon::ATTACH_LOCK))?;
        if !in_use(network).is_empty() {
            return Err(Error::InUse {
                name: network.name.clone(),
                id: network.id.clone(),
            });
        }
        crate::daemon::stop(self, network);
        let doomed = self.dir.join(format!(".removed-{}", network.id));
        fs::rename(&dir, &doomed).context(|| format!("cannot remove network {}", network.name))?;
        fs::remove_dir_all(&doomed).context(|| format!("cannot remove {}", doomed.display()))
    }
}

/// A new random 64-hex-digit id.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context(|| "cannot read /dev/urandom".to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests;
