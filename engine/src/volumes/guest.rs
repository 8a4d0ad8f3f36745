//! A container's mounts as the guest sees them: OCI mounts in its run spec. Volumes and
//! binds are entries of the container's one virtio-fs share (`hull_protocol::shares`),
//! numbered in the order of [`shared`]; a tmpfs is the guest's own.

use super::mounts::{tmpfs_mount_options, Mount, MountKind};
use oci_spec::runtime::{Mount as OciMount, MountBuilder};

/// The mounts served through the share, in share-entry order.
pub fn shared(mounts: &[Mount]) -> impl Iterator<Item = &Mount> {
    mounts.iter().filter(|m| m.is_shared())
}

/// The OCI mounts of `mounts`, parents before children (a volume at `/data` is mounted
/// before one at `/data/cache`, whatever the flags' order).
pub fn oci_mounts(mounts: &[Mount]) -> anyhow::Result<Vec<OciMount>> {
    let mut entries = Vec::with_capacity(mounts.len());
    let mut share_index = 0;
    for mount in mounts {
        let access = if mount.read_only { "ro" } else { "rw" };
        let built = match mount.kind {
            MountKind::Volume | MountKind::Bind => {
                let mut options = vec!["rbind".to_string(), access.to_string()];
                if mount.copy_up {
                    options.push(hull_protocol::COPY_UP_OPTION.into());
                }
                let source = hull_protocol::share_source(share_index);
                share_index += 1;
                MountBuilder::default()
                    .destination(&mount.destination)
                    .typ("bind")
                    .source(source)
                    .options(options)
                    .build()?
            }
            MountKind::Tmpfs => {
                let mut options = tmpfs_mount_options(mount);
                if mount.read_only {
                    options.push("ro".into());
                }
                MountBuilder::default()
                    .destination(&mount.destination)
                    .typ("tmpfs")
                    .source("tmpfs")
                    .options(options)
                    .build()?
            }
        };
        entries.push(built);
    }
    entries.sort_by_key(|m| m.destination().components().count());
    Ok(entries)
}

/// Docker's `Mounts` of a container's inspect: its volumes and binds (and `--mount`
/// tmpfs), with each volume's host directory under `volumes_dir`.
pub fn mount_points(mounts: &[Mount], volumes_dir: &std::path::Path) -> serde_json::Value {
    let points: Vec<serde_json::Value> = mounts
        .iter()
        .map(|mount| match mount.kind {
            MountKind::Volume => serde_json::json!({
                "Type": "volume",
                "Name": mount.source,
                "Source": volumes_dir.join(&mount.source).join("_data"),
                "Destination": mount.destination,
                "Driver": "local",
                "Mode": if mount.mode.is_empty() { "z" } else { mount.mode.as_str() },
                "RW": !mount.read_only,
                "Propagation": "",
            }),
            MountKind::Bind => serde_json::json!({
                "Type": "bind",
                "Source": mount.source,
                "Destination": mount.destination,
                "Mode": mount.mode,
                "RW": !mount.read_only,
                "Propagation": "rprivate",
            }),
            MountKind::Tmpfs => serde_json::json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": mount.destination,
                "Mode": "",
                "RW": !mount.read_only,
                "Propagation": "",
            }),
        })
        .collect();
    serde_json::Value::Array(points)
}
