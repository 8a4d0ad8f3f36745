//! Named volumes on disk, laid out as Docker's local driver lays them out:
//! `<root>/volumes/<name>/_data` is the volume's content (what containers see) and
//! `<root>/volumes/<name>/volume.json` its metadata.

use crate::container::state::now_rfc3339;
use crate::container::store::write_atomic;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Docker's label on the volumes it makes for `-v /path` and an image's `VOLUME`.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume, as `volume inspect` shows it (Docker's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Always `local`: the shared directory driver.
    pub driver: String,
    /// `--label KEY=VALUE` (and [`ANONYMOUS_LABEL`] on anonymous volumes).
    pub labels: BTreeMap<String, String>,
    /// The host directory holding its content.
    pub mountpoint: PathBuf,
    /// Its name (64 hex digits for an anonymous volume).
    pub name: String,
    /// `--opt` (kept, not interpreted: the local driver's mount options need a block device).
    pub options: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
}

impl Volume {
    /// Made by hull for `-v /path` or an image's `VOLUME`, not by name.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Docker's refusal of a name outside that rule.
pub fn invalid_name(name: &str) -> Error {
    Error::InvalidArgument(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, \
         only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host \
         directory, use absolute path"
    ))
}

/// The volumes directory under one hull root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

impl VolumeStore {
    /// The store under `root` (`$HULL_ROOT`), created on first use.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// Creates volume `name` (a new anonymous name when None); an existing volume of that
    /// name is returned as it is, as Docker does.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let name = match name {
            Some(name) if !valid_name(name) => return Err(invalid_name(name)),
            Some(name) => name.to_string(),
            None => crate::container::ids::new_id()?,
        };
        if let Ok(existing) = self.get(&name) {
            return Ok(existing);
        }
        let dir = self.dir.join(&name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data)?;
        // As Docker's: the root of a fresh volume is world-readable, owned by root.
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        let volume = Volume {
            created_at: now_rfc3339(),
            driver: "local".into(),
            labels,
            mountpoint: data,
            name,
            options,
            scope: "local".into(),
        };
        write_atomic(
            &self.meta_path(&volume.name),
            &serde_json::to_vec(&volume).map_err(anyhow::Error::from)?,
        )?;
        Ok(volume)
    }

    /// The volume called `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(Error::NoSuchVolume(name.to_string()));
        }
        let bytes = match std::fs::read(self.meta_path(name)) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoSuchVolume(name.to_string()))
            }
            Err(err) => return Err(err.into()),
        };
        let mut volume: Volume = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("volume {name}: corrupt metadata: {e}"))?;
        // The store may have moved with its root: the path is always derived.
        volume.mountpoint = self.dir.join(name).join("_data");
        Ok(volume)
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut volumes = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            // A half-made or foreign entry is skipped, not fatal to the listing.
            if let Ok(volume) = self.get(&name) {
                volumes.push(volume);
            }
        }
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(volumes)
    }

    /// Deletes volume `name` and its content.
    pub fn delete(&self, name: &str) -> Result<()> {
        let volume = self.get(name)?;
        let dir = self.dir.join(&volume.name);
        // Metadata first: an interrupted delete leaves no half-volume that looks whole.
        std::fs::remove_file(self.meta_path(&volume.name))?;
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
