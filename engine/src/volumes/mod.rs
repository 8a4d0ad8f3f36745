//! The volume use cases (`volume create/ls/inspect/rm/prune`) and the mounts of a
//! container: `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's `VOLUME`s
//! resolved at create into [`Mount`]s, which the supervisor serves to the guest over
//! virtio-fs (see `supervisor::shares`).

mod filter;
mod guest;
mod mounts;
mod store;

pub use filter::VolumeFilter;
pub use guest::{mount_points, oci_mounts, shared};
pub use mounts::{
    check_duplicates, clean_destination, mount_from_parts, parse_mount_flag, parse_tmpfs_flag,
    parse_volume_flag, tmpfs_mount_options, Mount, MountKind,
};
pub use store::{valid_name, Volume, VolumeStore, ANONYMOUS_LABEL};

use crate::container::{Container, ContainerStore};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// `volume create`'s request.
#[derive(Debug, Clone, Default)]
pub struct CreateVolume {
    /// The name (a new anonymous one when None).
    pub name: Option<String>,
    /// `--label KEY=VALUE`.
    pub labels: BTreeMap<String, String>,
    /// `--opt KEY=VALUE`.
    pub options: BTreeMap<String, String>,
    /// `--driver`: only `local` exists.
    pub driver: Option<String>,
}

/// The volumes under one root, and the containers that use them.
pub struct Volumes {
    store: VolumeStore,
    containers: ContainerStore,
}

impl Volumes {
    /// The volumes under `root` (`$HULL_ROOT`).
    pub fn open(root: &Path) -> Result<Self> {
        Ok(Self {
            store: VolumeStore::open(root)?,
            containers: ContainerStore::open(root)?,
        })
    }

    /// `volume create`: an existing volume of that name is returned unchanged (Docker's).
    pub fn create(&self, request: &CreateVolume) -> Result<Volume> {
        if let Some(driver) = request.driver.as_deref().filter(|d| *d != "local") {
            return Err(Error::InvalidArgument(format!(
                "error looking up volume plugin {driver}: plugin {driver:?} not found (hull has the local driver only)"
            )));
        }
        self.store.create(
            request.name.as_deref(),
            request.labels.clone(),
            request.options.clone(),
        )
    }

    /// `volume inspect NAME`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        self.store.get(name)
    }

    /// `volume ls`: the volumes `filter` keeps, by name.
    pub fn list(&self, filter: &VolumeFilter) -> Result<Vec<Volume>> {
        let mut volumes = self.store.list()?;
        volumes.retain(|v| filter.matches(v));
        if let Some(dangling) = filter.dangling {
            let containers = self.containers.list()?;
            volumes.retain(|v| users(&containers, &v.name).is_empty() == dangling);
        }
        Ok(volumes)
    }

    /// `volume rm`: refused while any container (running or not) refers to it, unless
    /// `force` (Docker's `-f` only forgives a missing volume).
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let volume = match self.store.get(name) {
            Err(Error::NoSuchVolume(_)) if force => return Ok(()),
            other => other?,
        };
        let users = users(&self.containers.list()?, &volume.name);
        if !users.is_empty() {
            return Err(Error::VolumeInUse {
                name: volume.name,
                users,
            });
        }
        self.store.delete(&volume.name)
    }

    /// `volume prune`: removes the unused anonymous volumes (every unused one with `all`);
    /// their names and the bytes freed.
    pub fn prune(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let containers = self.containers.list()?;
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for volume in self.store.list()? {
            if (all || volume.is_anonymous()) && users(&containers, &volume.name).is_empty() {
                reclaimed += crate::system::disk_usage::tree_size(&volume.mountpoint);
                self.store.delete(&volume.name)?;
                removed.push(volume.name);
            }
        }
        Ok((removed, reclaimed))
    }

    /// The mounts a new container gets: those inherited with `--volumes-from` first (a
    /// destination given again is overridden), then the requested ones, then an anonymous
    /// volume for each of the image's `VOLUME`s not covered. Named volumes that do not
    /// exist yet and anonymous ones are made here; a missing `-v` host directory is created
    /// (as Docker does).
    pub fn prepare(
        &self,
        requested: &[Mount],
        volumes_from: &[Mount],
        image_volumes: &[String],
    ) -> Result<Vec<Mount>> {
        check_duplicates(requested)?;
        let mut mounts: Vec<Mount> = volumes_from
            .iter()
            .filter(|m| !requested.iter().any(|r| r.destination == m.destination))
            .cloned()
            .collect();
        mounts.extend(requested.iter().cloned());
        for path in image_volumes {
            let destination = clean_destination(path, path)?;
            if !mounts.iter().any(|m| m.destination == destination) {
                mounts.push(Mount {
                    kind: MountKind::Volume,
                    source: String::new(),
                    destination,
                    read_only: false,
                    copy_up: true,
                    mode: String::new(),
                    tmpfs_options: Vec::new(),
                });
            }
        }
        for mount in &mut mounts {
            match mount.kind {
                MountKind::Volume if mount.source.is_empty() => {
                    let labels = BTreeMap::from([(ANONYMOUS_LABEL.to_string(), String::new())]);
                    mount.source = self.store.create(None, labels, BTreeMap::new())?.name;
                }
                MountKind::Volume => {
                    self.store
                        .create(Some(&mount.source), BTreeMap::new(), BTreeMap::new())?;
                }
                MountKind::Bind if !Path::new(&mount.source).exists() => {
                    std::fs::create_dir_all(&mount.source).map_err(|e| {
                        Error::InvalidArgument(format!(
                            "error while creating mount source path '{}': {e}",
                            mount.source
                        ))
                    })?;
                }
                MountKind::Bind | MountKind::Tmpfs => {}
            }
        }
        Ok(mounts)
    }

    /// The host directory a shared mount serves: a volume's `_data` or the bind's path.
    pub fn host_path(&self, mount: &Mount) -> Result<std::path::PathBuf> {
        match mount.kind {
            MountKind::Volume => Ok(self.store.get(&mount.source)?.mountpoint),
            MountKind::Bind => Ok(mount.source.clone().into()),
            MountKind::Tmpfs => Err(Error::Internal(anyhow::anyhow!(
                "a tmpfs has no host directory"
            ))),
        }
    }

    /// After `rm -v` or `run --rm`: removes the anonymous volumes `container` used that no
    /// other container uses (named volumes stay, as Docker's).
    pub fn remove_anonymous(&self, container: &Container) -> Result<()> {
        let others: Vec<Container> = self
            .containers
            .list()?
            .into_iter()
            .filter(|c| c.id != container.id)
            .collect();
        for mount in &container.config.mounts {
            if mount.kind != MountKind::Volume || !users(&others, &mount.source).is_empty() {
                continue;
            }
            match self.store.get(&mount.source) {
                Ok(volume) if volume.is_anonymous() => self.store.delete(&volume.name)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// The ids of the containers whose mounts name volume `name`.
fn users(containers: &[Container], name: &str) -> Vec<String> {
    containers
        .iter()
        .filter(|c| uses_volume(c, name))
        .map(|c| c.id.clone())
        .collect()
}

/// Whether `container` mounts volume `name` (running or not: it keeps the volume in use).
pub fn uses_volume(container: &Container, name: &str) -> bool {
    container
        .config
        .mounts
        .iter()
        .any(|m| m.kind == MountKind::Volume && m.source == name)
}

#[cfg(test)]
mod tests;
