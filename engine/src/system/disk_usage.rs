//! `hull system df`: the disk the store uses, in Docker's four rows. Sizes are what the
//! files take on disk: a layer's block image counted once however many images share it, a
//! container's writable disk by its allocated blocks (it is sparse).

use crate::error::Result;
use crate::{Containers, Images};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One row of `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// How many there are.
    pub total_count: usize,
    /// How many are in use (images with a container, running containers).
    pub active: usize,
    /// Bytes on disk.
    pub size: u64,
    /// Bytes that removing the inactive ones would free.
    pub reclaimable: u64,
}

/// Docker's four rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    /// Images and their layers.
    pub images: UsageRow,
    /// Containers' writable layers.
    pub containers: UsageRow,
    /// Volumes (named and anonymous): their content's size; reclaimable when no container
    /// refers to them.
    pub volumes: UsageRow,
    /// The build cache (none until `hull build`, issue #17).
    pub build_cache: UsageRow,
}

/// What the images and containers under one root use.
pub fn disk_usage(images: &Images, containers: &Containers) -> Result<DiskUsage> {
    let all_containers = containers.list(true)?;
    let used_images: HashSet<&str> = all_containers.iter().map(|c| c.image_id.as_str()).collect();
    let mut image_layers: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    for row in images.list()? {
        if image_layers.contains_key(&row.id) {
            continue;
        }
        let image = images.store().resolve(&row.id)?;
        let layers = image
            .layers
            .iter()
            .map(|layer| (layer.diff_id.clone(), layer.size))
            .collect();
        image_layers.insert(row.id, layers);
    }
    let mut container_rows = UsageRow {
        total_count: all_containers.len(),
        ..UsageRow::default()
    };
    for container in &all_containers {
        let size = allocated_size(&containers.store().paths(&container.id).rw_disk());
        container_rows.size += size;
        if container.is_running() {
            container_rows.active += 1;
        } else {
            container_rows.reclaimable += size;
        }
    }
    let mut volume_rows = UsageRow::default();
    for volume in crate::Volumes::open(containers.root())?.list(&Default::default())? {
        let size = tree_size(&volume.mountpoint);
        let used = all_containers
            .iter()
            .any(|c| crate::volumes::uses_volume(c, &volume.name));
        volume_rows.total_count += 1;
        volume_rows.size += size;
        if used {
            volume_rows.active += 1;
        } else {
            volume_rows.reclaimable += size;
        }
    }
    Ok(DiskUsage {
        images: image_usage(&image_layers, &used_images),
        containers: container_rows,
        volumes: volume_rows,
        build_cache: UsageRow::default(),
    })
}

/// Images by id -> their layers (diff id, bytes); a layer shared by several images counts
/// once, and is reclaimable only when no used image has it.
fn image_usage(
    image_layers: &HashMap<String, Vec<(String, u64)>>,
    used_images: &HashSet<&str>,
) -> UsageRow {
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    let mut in_use: HashSet<&str> = HashSet::new();
    for (id, layers) in image_layers {
        for (diff_id, size) in layers {
            sizes.insert(diff_id, *size);
            if used_images.contains(id.as_str()) {
                in_use.insert(diff_id);
            }
        }
    }
    let size = sizes.values().sum();
    let reclaimable = sizes
        .iter()
        .filter(|(diff_id, _)| !in_use.contains(*diff_id))
        .map(|(_, size)| size)
        .sum();
    UsageRow {
        total_count: image_layers.len(),
        active: image_layers
            .keys()
            .filter(|id| used_images.contains(id.as_str()))
            .count(),
        size,
        reclaimable,
    }
}

/// Bytes a (sparse) file really takes; 0 when it is gone.
fn allocated_size(path: &Path) -> u64 {
    std::fs::metadata(path)
        .map(|m| m.blocks() * 512)
        .unwrap_or(0)
}

/// Bytes the files under `path` take (a volume's content); symlinks are not followed.
pub fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut size = meta.blocks() * 512;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            size += tree_size(&entry.path());
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_layers_count_once_and_only_unused_ones_are_reclaimable() {
        let mut image_layers = HashMap::new();
        image_layers.insert(
            "sha256:base".to_string(),
            vec![("sha256:l1".to_string(), 100)],
        );
        image_layers.insert(
            "sha256:child".to_string(),
            vec![
                ("sha256:l1".to_string(), 100),
                ("sha256:l2".to_string(), 30),
            ],
        );
        image_layers.insert(
            "sha256:other".to_string(),
            vec![("sha256:l3".to_string(), 7)],
        );
        let used: HashSet<&str> = ["sha256:base"].into_iter().collect();
        let row = image_usage(&image_layers, &used);
        assert_eq!(row.total_count, 3);
        assert_eq!(row.active, 1);
        assert_eq!(row.size, 137);
        assert_eq!(row.reclaimable, 37);
    }

    #[test]
    fn a_missing_disk_takes_nothing() {
        assert_eq!(allocated_size(Path::new("/nonexistent/rw.img")), 0);
    }
}
