//! The mounts of a create body: `HostConfig.Binds` (the `-v` strings), `HostConfig.Mounts`
//! (`--mount` as objects), `HostConfig.Tmpfs`, and `Config.Volumes` (anonymous volumes),
//! checked by the engine's parsers, as the CLI's flags are.

use crate::error::ApiResult;
use hull_engine::volumes::{self, Mount, MountKind};
use serde::Deserialize;
use std::collections::HashMap;

/// One `HostConfig.Mounts` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountBody {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub volume_options: Option<VolumeOptions>,
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `VolumeOptions`: hull honours `NoCopy`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    pub no_copy: bool,
}

/// `TmpfsOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    pub size_bytes: i64,
    pub mode: u32,
}

/// The container's requested mounts, in Docker's order (binds, mounts, tmpfs, then the
/// anonymous volumes not given otherwise).
pub fn requested_mounts(
    binds: Option<&[String]>,
    mounts: Option<&[MountBody]>,
    tmpfs: Option<&HashMap<String, String>>,
    anonymous: Option<&HashMap<String, serde_json::Value>>,
) -> ApiResult<Vec<Mount>> {
    let mut out = Vec::new();
    for bind in binds.unwrap_or_default() {
        out.push(volumes::parse_volume_flag(bind)?);
    }
    for body in mounts.unwrap_or_default() {
        let kind = match body.kind.as_str() {
            "volume" | "" => MountKind::Volume,
            "bind" => MountKind::Bind,
            "tmpfs" => MountKind::Tmpfs,
            other => {
                return Err(crate::error::ApiError::bad_request(format!(
                    "mount type unknown: {other:?} (hull has volume, bind and tmpfs)"
                )))
            }
        };
        let mut tmpfs_options = Vec::new();
        if let Some(options) = &body.tmpfs_options {
            if options.size_bytes > 0 {
                tmpfs_options.push(format!("size={}", options.size_bytes));
            }
            if options.mode != 0 {
                tmpfs_options.push(format!("mode={:o}", options.mode));
            }
        }
        let copy_up = !body.volume_options.as_ref().is_some_and(|v| v.no_copy);
        out.push(volumes::mount_from_parts(
            &body.target,
            kind,
            &body.source,
            &body.target,
            body.read_only,
            copy_up,
            tmpfs_options,
        )?);
    }
    let mut tmpfs: Vec<_> = tmpfs.into_iter().flatten().collect();
    tmpfs.sort();
    for (path, options) in tmpfs {
        let spec = if options.is_empty() {
            path.clone()
        } else {
            format!("{path}:{options}")
        };
        out.push(volumes::parse_tmpfs_flag(&spec)?);
    }
    let mut anonymous: Vec<_> = anonymous.into_iter().flatten().map(|(k, _)| k).collect();
    anonymous.sort();
    for path in anonymous {
        let mount = volumes::parse_volume_flag(path)?;
        if !out.iter().any(|m| m.destination == mount.destination) {
            out.push(mount);
        }
    }
    volumes::check_duplicates(&out)?;
    Ok(out)
}
