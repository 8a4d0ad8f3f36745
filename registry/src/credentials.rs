//! Registry credentials: `auths` in hull's `config.json`, the format of Docker's
//! `~/.docker/config.json` (base64 `user:password` per registry), written with mode 0600;
//! Docker's own file is read too when hull's has no entry. Nothing here ever prints a secret.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl Credential {
    /// A credential from Docker's `auth` field: base64 of `user:password`; None when it is
    /// not that.
    pub fn from_auth(auth: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (username, password) = text.split_once(':')?;
        Some(Self {
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, ***)", self.username)
    }
}

/// The subset of Docker's `config.json` hull reads and writes; other keys are kept as-is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    auths: BTreeMap<String, AuthEntry>,
    /// Registries reached over plain HTTP although not on loopback (hull's extension,
    /// Docker keeps this list in `daemon.json`).
    #[serde(
        default,
        rename = "insecure-registries",
        skip_serializing_if = "Vec::is_empty"
    )]
    insecure_registries: Vec<String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    auth: String,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// hull's configuration directory and, read-only, Docker's.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    hull_file: PathBuf,
    docker_file: Option<PathBuf>,
}

impl CredentialStore {
    /// `$HULL_CONFIG/config.json` (default `$XDG_CONFIG_HOME/hull` or `~/.config/hull`), and
    /// Docker's `$DOCKER_CONFIG/config.json` (default `~/.docker`).
    pub fn from_env() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let hull_dir = std::env::var_os("HULL_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("hull")))
            .or_else(|| home.as_ref().map(|h| h.join(".config/hull")))
            .unwrap_or_else(|| PathBuf::from("/root/.config/hull"));
        let docker_dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".docker")));
        Self {
            hull_file: hull_dir.join("config.json"),
            docker_file: docker_dir.map(|d| d.join("config.json")),
        }
    }

    /// A store over explicit files (tests, a service with its own directory).
    pub fn at(hull_file: PathBuf, docker_file: Option<PathBuf>) -> Self {
        Self {
            hull_file,
            docker_file,
        }
    }

    /// The file `login` writes.
    pub fn path(&self) -> &Path {
        &self.hull_file
    }

    /// The credential filed under `key` (hull's file first, then Docker's).
    pub fn get(&self, key: &str) -> Result<Option<Credential>> {
        for file in std::iter::once(&self.hull_file).chain(self.docker_file.as_ref()) {
            let config = read_config(file)?;
            if let Some(entry) = config.auths.get(key) {
                if let Some(credential) = decode(key, &entry.auth, file)? {
                    return Ok(Some(credential));
                }
            }
        }
        Ok(None)
    }

    /// Files `credential` under `key` in hull's file (mode 0600, replaced atomically).
    pub fn set(&self, key: &str, credential: &Credential) -> Result<()> {
        let mut config = read_config(&self.hull_file)?;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", credential.username, credential.password));
        let entry = config.auths.entry(key.to_owned()).or_default();
        entry.auth = token;
        write_config(&self.hull_file, &config)
    }

    /// Forgets `key`'s credential; false if hull's file had none.
    pub fn remove(&self, key: &str) -> Result<bool> {
        let mut config = read_config(&self.hull_file)?;
        let removed = config.auths.remove(key).is_some();
        if removed {
            write_config(&self.hull_file, &config)?;
        }
        Ok(removed)
    }

    /// Registries configured for plain HTTP (`insecure-registries` in hull's file and the
    /// comma-separated `HULL_INSECURE_REGISTRIES`).
    pub fn insecure_registries(&self) -> Result<Vec<String>> {
        let mut registries = read_config(&self.hull_file)?.insecure_registries;
        if let Ok(list) = std::env::var("HULL_INSECURE_REGISTRIES") {
            registries.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
        Ok(registries)
    }
}

fn read_config(file: &Path) -> Result<ConfigFile> {
    match fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| RegistryError::Config {
            path: file.to_owned(),
            reason: error.to_string(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(error) => Err(RegistryError::io("read", file, error)),
    }
}

fn write_config(file: &Path, config: &ConfigFile) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| RegistryError::io("create", dir, e))?;
    let json = serde_json::to_vec_pretty(config).map_err(|error| RegistryError::Config {
        path: file.to_owned(),
        reason: error.to_string(),
    })?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let result = (|| {
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // An existing temp file keeps its mode through open(): set it explicitly.
        out.set_permissions(fs::Permissions::from_mode(0o600))?;
        out.write_all(&json)?;
        out.sync_all()?;
        fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| RegistryError::io("write", file, e))
}

fn decode(key: &str, auth: &str, file: &Path) -> Result<Option<Credential>> {
    if auth.is_empty() {
        return Ok(None);
    }
    Credential::from_auth(auth)
        .map(Some)
        .ok_or_else(|| RegistryError::Config {
            path: file.to_owned(),
            reason: format!("the credential for {key} is not base64 of user:password"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(user: &str) -> Credential {
        Credential {
            username: user.into(),
            password: "s3cret:with:colons".into(),
        }
    }

    #[test]
    fn set_get_remove_with_mode_0600_and_foreign_keys_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hull/config.json");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(
            &file,
            r#"{"credsStore":"none","auths":{"x:1":{"auth":"","email":"e"}}}"#,
        )
        .unwrap();
        let store = CredentialStore::at(file.clone(), None);
        store.set("localhost:5000", &credential("alice")).unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            store.get("localhost:5000").unwrap(),
            Some(credential("alice"))
        );
        let raw: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(raw["credsStore"], "none");
        assert_eq!(raw["auths"]["x:1"]["email"], "e");
        assert!(store.remove("localhost:5000").unwrap());
        assert!(!store.remove("localhost:5000").unwrap());
        assert_eq!(store.get("localhost:5000").unwrap(), None);
    }

    #[test]
    fn docker_file_is_read_when_hull_has_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("docker.json");
        let token = base64::engine::general_purpose::STANDARD.encode("bob:pw");
        fs::write(
            &docker,
            format!(r#"{{"auths":{{"reg:5000":{{"auth":"{token}"}}}}}}"#),
        )
        .unwrap();
        let store = CredentialStore::at(dir.path().join("none/config.json"), Some(docker));
        let found = store.get("reg:5000").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("bob", "pw")
        );
        assert!(!format!("{found:?}").contains("pw"));
    }

    #[test]
    fn malformed_entries_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        fs::write(&file, r#"{"auths":{"r":{"auth":"!!!"}}}"#).unwrap();
        let store = CredentialStore::at(file, None);
        let error = store.get("r").unwrap_err().to_string();
        assert!(error.contains("base64"), "{error}");
    }
}
