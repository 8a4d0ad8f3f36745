//! The mount flags of `run`/`create` (`-v`, `--mount`, `--tmpfs`) parsed into [`Mount`]s,
//! with Docker's rules and wording, before any volume is made or VM started.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path};

/// What a mount brings into the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A named (or anonymous) volume from the store.
    Volume,
    /// A host directory or file.
    Bind,
    /// A tmpfs in the guest's memory.
    Tmpfs,
}

/// One of a container's mounts, as created (kept in its config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Volume, bind or tmpfs.
    pub kind: MountKind,
    /// The volume's name, the bind's absolute host path, "" for a tmpfs (and for an
    /// anonymous volume until it is made).
    pub source: String,
    /// The absolute, cleaned path in the container.
    pub destination: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// An empty volume is first filled with the image's content at the destination
    /// (Docker's copy-up; `nocopy` turns it off).
    #[serde(default)]
    pub copy_up: bool,
    /// The mode as given (`ro`, `z`, ...), which Docker's inspect shows.
    #[serde(default)]
    pub mode: String,
    /// tmpfs mount options (`size=64m`, `mode=1777`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
}

impl Mount {
    /// Goes through the shared directory (virtio-fs), as opposed to a guest tmpfs.
    pub fn is_shared(&self) -> bool {
        matches!(self.kind, MountKind::Volume | MountKind::Bind)
    }
}

fn invalid_spec(spec: &str, why: &str) -> Error {
    Error::InvalidArgument(format!("invalid volume specification: '{spec}': {why}"))
}

/// The destination as Docker keeps it: absolute, `.`/`..` resolved lexically, not `/`.
pub fn clean_destination(spec: &str, destination: &str) -> Result<String> {
    if !destination.starts_with('/') {
        return Err(invalid_spec(
            spec,
            &format!("invalid mount path: '{destination}' mount path must be absolute"),
        ));
    }
    let mut parts: Vec<String> = Vec::new();
    for component in Path::new(destination).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if parts.is_empty() {
        return Err(invalid_spec(
            spec,
            "invalid mount config: destination can't be '/'",
        ));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The host path of a bind as Docker keeps it: absolute and cleaned; relative paths are
/// refused (Docker would take them for volume names and refuse those).
fn clean_host_path(spec: &str, path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(invalid_spec(spec, "bind source path must be absolute"));
    }
    if path == "/" {
        return Ok("/".into());
    }
    clean_destination(spec, path)
}

/// A `-v` mode Docker accepts: `ro`/`rw`, SELinux labels, propagation, `nocopy`.
fn is_mode(mode: &str) -> bool {
    mode.split(',').filter(|o| !o.is_empty()).all(|option| {
        matches!(
            option,
            "ro" | "rw"
                | "z"
                | "Z"
                | "nocopy"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
                | "private"
                | "rprivate"
                | "consistent"
                | "cached"
                | "delegated"
        )
    })
}

/// `-v [SOURCE:]DESTINATION[:MODE]`.
pub fn parse_volume_flag(spec: &str) -> Result<Mount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [destination] => ("", *destination, ""),
        [source, destination] if destination.starts_with('/') => (*source, *destination, ""),
        // `/ctr:ro`: an anonymous volume with a mode.
        [destination, mode] if destination.starts_with('/') && is_mode(mode) => {
            ("", *destination, *mode)
        }
        [source, destination] => (*source, *destination, ""),
        [source, destination, mode] => (*source, *destination, *mode),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    if destination.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "invalid volume specification: '{spec}'"
        )));
    }
    if !is_mode(mode) {
        return Err(Error::InvalidArgument(format!("invalid mode: {mode}")));
    }
    let options = || mode.split(',').filter(|o| !o.is_empty());
    let read_only = options().any(|o| o == "ro");
    let copy_up = !options().any(|o| o == "nocopy");
    let destination = clean_destination(spec, destination)?;
    let (kind, source) = if source.is_empty() {
        (MountKind::Volume, String::new())
    } else if source.starts_with('/') {
        (MountKind::Bind, clean_host_path(spec, source)?)
    } else if super::store::valid_name(source) {
        (MountKind::Volume, source.to_string())
    } else {
        return Err(super::store::invalid_name(source));
    };
    Ok(Mount {
        copy_up: kind == MountKind::Volume && copy_up,
        kind,
        source,
        destination,
        read_only,
        mode: mode.to_string(),
        tmpfs_options: Vec::new(),
    })
}

/// `--mount type=volume|bind|tmpfs,source=..,target=..[,readonly][,volume-nocopy]...`.
/// A bind's source must exist (unlike `-v`, which creates it, as Docker's).
pub fn parse_mount_flag(spec: &str) -> Result<Mount> {
    let bad = |why: String| {
        Error::InvalidArgument(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: {why}"
        ))
    };
    let mut kind = MountKind::Volume;
    let (mut source, mut target) = (String::new(), String::new());
    let mut read_only = false;
    let mut copy_up = true;
    let mut tmpfs_options = Vec::new();
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.trim().to_ascii_lowercase(), Some(value)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let flag = |value: Option<&str>| -> Result<bool> {
            match value.map(str::to_ascii_lowercase).as_deref() {
                None | Some("1" | "true") => Ok(true),
                Some("0" | "false") => Ok(false),
                Some(other) => Err(bad(format!("invalid value for {key}: {other}"))),
            }
        };
        match (key.as_str(), value) {
            ("type", Some(value)) => {
                kind = match value {
                    "volume" => MountKind::Volume,
                    "bind" => MountKind::Bind,
                    "tmpfs" => MountKind::Tmpfs,
                    other => return Err(bad(format!("invalid mount type: {other:?}"))),
                }
            }
            ("source" | "src", Some(value)) => source = value.to_string(),
            ("target" | "destination" | "dst", Some(value)) => target = value.to_string(),
            ("readonly" | "ro", value) => read_only = flag(value)?,
            ("volume-nocopy", value) => copy_up = !flag(value)?,
            (
                "bind-propagation" | "consistency" | "volume-driver" | "volume-label"
                | "volume-opt",
                Some(_),
            ) => {}
            ("tmpfs-size", Some(value)) => tmpfs_options.push(format!("size={value}")),
            ("tmpfs-mode", Some(value)) => {
                let mode = u32::from_str_radix(value, 8)
                    .map_err(|_| bad(format!("invalid tmpfs-mode: {value}")))?;
                tmpfs_options.push(format!("mode={mode:o}"));
            }
            _ => return Err(bad(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    mount_from_parts(
        spec,
        kind,
        &source,
        &target,
        read_only,
        copy_up,
        tmpfs_options,
    )
}

/// One mount from its parts (`--mount`'s fields, the API's `HostConfig.Mounts` entries),
/// with Docker's checks; `spec` names it in errors.
pub fn mount_from_parts(
    spec: &str,
    kind: MountKind,
    source: &str,
    target: &str,
    read_only: bool,
    copy_up: bool,
    tmpfs_options: Vec<String>,
) -> Result<Mount> {
    if target.is_empty() {
        return Err(Error::InvalidArgument(
            "invalid mount config: target is required".into(),
        ));
    }
    let destination = clean_destination(spec, target)?;
    let mut source = source.to_string();
    match kind {
        MountKind::Bind => {
            if source.is_empty() {
                return Err(Error::InvalidArgument(
                    "invalid mount config for type \"bind\": field Source must not be empty".into(),
                ));
            }
            source = clean_host_path(spec, &source)?;
            if !Path::new(&source).exists() {
                return Err(Error::InvalidArgument(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                )));
            }
        }
        MountKind::Volume if !source.is_empty() && !super::store::valid_name(&source) => {
            return Err(super::store::invalid_name(&source));
        }
        MountKind::Tmpfs if !source.is_empty() => {
            return Err(Error::InvalidArgument(
                "invalid mount config for type \"tmpfs\": field Source must not be specified"
                    .into(),
            ));
        }
        _ => {}
    }
    Ok(Mount {
        copy_up: kind == MountKind::Volume && copy_up,
        kind,
        source,
        destination,
        read_only,
        mode: String::new(),
        tmpfs_options,
    })
}

/// `--tmpfs PATH[:OPTIONS]` (OPTIONS as mount(8) takes them: `size=64m,mode=1777`).
pub fn parse_tmpfs_flag(spec: &str) -> Result<Mount> {
    let (path, options) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = clean_destination(spec, path)?;
    Ok(Mount {
        kind: MountKind::Tmpfs,
        source: String::new(),
        destination,
        read_only: options.split(',').any(|o| o == "ro"),
        copy_up: false,
        mode: String::new(),
        tmpfs_options: options
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// Docker's options of every tmpfs: `noexec,nosuid,nodev` unless the user says otherwise
/// (later options win in the guest's parser), then the user's.
pub fn tmpfs_mount_options(mount: &Mount) -> Vec<String> {
    let mut options: Vec<String> = ["rw", "noexec", "nosuid", "nodev"]
        .iter()
        .map(|o| (*o).to_string())
        .collect();
    options.extend(mount.tmpfs_options.iter().cloned());
    options
}

/// Refuses two mounts on one destination (Docker's "Duplicate mount point").
pub fn check_duplicates(mounts: &[Mount]) -> Result<()> {
    for (index, mount) in mounts.iter().enumerate() {
        if mounts[..index]
            .iter()
            .any(|m| m.destination == mount.destination)
        {
            return Err(Error::InvalidArgument(format!(
                "Duplicate mount point: {}",
                mount.destination
            )));
        }
    }
    Ok(())
}
