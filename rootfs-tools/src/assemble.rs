//! Turning a config plus ingested layers into an image record (config and manifest blobs
//! written to the work dir), shared by load and bootstrap.

use std::fs;

use oci_spec::image::ImageConfiguration;

use crate::digest::{sha256_digest, sha256_hex};
use crate::error::{from_json, IoContext, Result, StoreError};
use crate::fsutil::now_rfc3339;
use crate::index::{ImageRecord, LayerRecord};
use crate::oci::{Descriptor, Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST};
use crate::workdir::WorkDir;

/// Writes `bytes` as blob `work/blobs/<hex>`; returns its digest.
pub(crate) fn write_blob(work: &WorkDir, bytes: &[u8]) -> Result<String> {
    let digest = sha256_digest(bytes);
    let dir = work.path().join("blobs");
    fs::create_dir_all(&dir).io("create", &dir)?;
    let path = dir.join(sha256_hex(&digest).unwrap_or_default());
    fs::write(&path, bytes).io("write", &path)?;
    Ok(digest)
}

/// Checks `config_bytes` against the layers and writes config + manifest blobs. `manifest`
/// is the original manifest (bytes, media type) when the source had one; otherwise an OCI
/// manifest is synthesised (deterministically, so a reload gives the same digest).
pub(crate) fn assemble_image(
    work: &WorkDir,
    config_bytes: &[u8],
    layers: Vec<LayerRecord>,
    manifest: Option<(Vec<u8>, String)>,
) -> Result<ImageRecord> {
    let id = write_blob(work, config_bytes)?;
    let config: ImageConfiguration = from_json(config_bytes, &format!("image config {id}"))?;
    let diff_ids = config.rootfs().diff_ids();
    let actual: Vec<&String> = layers.iter().map(|l| &l.diff_id).collect();
    if diff_ids.iter().collect::<Vec<_>>() != actual {
        return Err(StoreError::DigestMismatch {
            what: format!("layer list of image {id} (config rootfs.diff_ids)"),
            expected: diff_ids.join(","),
            actual: actual
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    let (manifest_bytes, manifest_media_type) = match manifest {
        Some(m) => m,
        None => {
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(MEDIA_OCI_MANIFEST.to_owned()),
                config: Descriptor {
                    media_type: MEDIA_OCI_CONFIG.to_owned(),
                    digest: id.clone(),
                    size: config_bytes.len() as u64,
                    annotations: None,
                    platform: None,
                },
                layers: layers
                    .iter()
                    .map(|l| Descriptor {
                        media_type: l.blob_media_type.clone(),
                        digest: l.blob_digest.clone(),
                        size: l.blob_size,
                        annotations: None,
                        platform: None,
                    })
                    .collect(),
            };
            let bytes = serde_json::to_vec(&manifest).map_err(|source| StoreError::Json {
                what: "synthesised manifest".into(),
                source,
            })?;
            (bytes, MEDIA_OCI_MANIFEST.to_owned())
        }
    };
    let manifest_digest = write_blob(work, &manifest_bytes)?;
    Ok(ImageRecord {
        id,
        manifest_digest,
        manifest_media_type,
        config_size: config_bytes.len() as u64,
        layers,
        added: now_rfc3339(),
        parent: None,
        repo_digests: Vec::new(),
    })
}
