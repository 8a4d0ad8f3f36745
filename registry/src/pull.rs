//! `hull pull`: the manifest for the platform, then the config, then the layers in parallel
//! into the download cache, laid out as an OCI image layout the image store loads like
//! `hull load`. The layout is written before the layers arrive and every blob appears in it
//! only once verified, so the store can convert each layer as soon as it is there.

use std::fs;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;

use crate::download::Wanted;
use crate::error::{RegistryError, Result};
use crate::name::ImageName;
use crate::observer::{short_digest, TransferEvent, TransferObserver};
use crate::session::{Platform, Session, PARALLEL_TRANSFERS};

/// The OCI layout annotation the image store takes an image's name from.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI layout annotation for the tag.
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where a pull puts things.
pub struct PullTarget<'a> {
    /// The download cache, kept across interrupted pulls (verified blobs and partial ones).
    pub cache: &'a Path,
    /// An empty directory to write the image's OCI layout into.
    pub layout: &'a Path,
    /// The local store's file for a blob it already has: such blobs are not fetched.
    pub local_blob: &'a dyn Fn(&str) -> Option<PathBuf>,
    /// Called once the layout's index, manifest and config are in place, before the
    /// layers: from then on each layer blob appears in the layout whole and verified.
    pub layout_ready: &'a dyn Fn(),
}

/// What a pull fetched.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// `sha256:` of the image manifest (the `Digest:` line).
    pub manifest_digest: String,
    /// `sha256:` of the image config (the image id).
    pub config_digest: String,
    /// The layer blobs' digests, bottom first.
    pub layer_digests: Vec<String>,
    /// Cache files this pull completed: delete them once the store holds the image.
    pub downloaded: Vec<PathBuf>,
}

impl Session {
    /// Fetches `name` for `platform` into `target.layout` (an OCI layout naming the image by
    /// its tag), every byte checked against its digest.
    pub fn pull(
        &self,
        name: &ImageName,
        platform: &Platform,
        target: &PullTarget<'_>,
        observer: &dyn TransferObserver,
    ) -> Result<Pulled> {
        self.block_on(async {
            self.client
                .auth(name.reference(), &self.auth, RegistryOperation::Pull)
                .await
                .map_err(|e| RegistryError::from_client(&self.registry, &name.to_string(), e))?;
            let fetched = self.fetch_image_manifest(name, platform).await?;
            let blobs_dir = target.layout.join("blobs").join("sha256");
            for dir in [target.cache, blobs_dir.as_path()] {
                fs::create_dir_all(dir).map_err(|e| RegistryError::io("create", dir, e))?;
            }

            let config = &fetched.manifest.config;
            let layers = &fetched.manifest.layers;
            for layer in layers {
                observer.blob(short_digest(&layer.digest), TransferEvent::Waiting);
            }
            let config_file = self
                .fetch_into_layout(name, config, target, &blobs_dir, &())
                .await?;
            write_blob(&blobs_dir, &fetched.digest, &fetched.bytes)?;
            write_layout(
                target.layout,
                name,
                &fetched.media_type,
                &fetched.digest,
                fetched.bytes.len(),
            )?;
            (target.layout_ready)();

            let downloaded: Result<Vec<Option<PathBuf>>> = futures_util::stream::iter(layers)
                .map(|layer| self.fetch_into_layout(name, layer, target, &blobs_dir, observer))
                .buffered(PARALLEL_TRANSFERS)
                .try_collect()
                .await;
            if let Err(RegistryError::Corrupt { .. }) = &downloaded {
                // A registry (or what is between) that sent bad bytes: the other blobs' partial
                // downloads, cut short by the failure, are not kept for a resume either.
                for layer in layers {
                    let hex = &layer.digest["sha256:".len()..];
                    drop(fs::remove_file(target.cache.join(format!("{hex}.partial"))));
                }
            }
            let mut downloaded: Vec<PathBuf> = downloaded?.into_iter().flatten().collect();
            downloaded.extend(config_file);
            Ok(Pulled {
                manifest_digest: fetched.digest,
                config_digest: config.digest.clone(),
                layer_digests: fetched
                    .manifest
                    .layers
                    .iter()
                    .map(|layer| layer.digest.clone())
                    .collect(),
                downloaded,
            })
        })
    }

    /// Puts one blob into the layout: the store's copy when it has one, else a download.
    /// Returns the cache file when it downloaded.
    async fn fetch_into_layout(
        &self,
        name: &ImageName,
        descriptor: &oci_client::manifest::OciDescriptor,
        target: &PullTarget<'_>,
        blobs_dir: &Path,
        observer: &dyn TransferObserver,
    ) -> Result<Option<PathBuf>> {
        let hex = &descriptor.digest["sha256:".len()..];
        let destination = blobs_dir.join(hex);
        if let Some(local) = (target.local_blob)(&descriptor.digest) {
            observer.blob(
                short_digest(&descriptor.digest),
                TransferEvent::AlreadyExists,
            );
            link_or_copy(&local, &destination)?;
            return Ok(None);
        }
        let wanted = Wanted {
            digest: &descriptor.digest,
            size: u64::try_from(descriptor.size).unwrap_or(0),
        };
        let cached = self
            .download_blob(name, &wanted, target.cache, observer)
            .await?;
        link_or_copy(&cached, &destination)?;
        Ok(Some(cached))
    }
}

/// Hard-links `from` to `to` (same filesystem: the store), copying when linking fails; `to`
/// appears whole either way (a copy is renamed into place), as the store may be reading
/// the layout while it fills.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    let partial = to.with_extension("copying");
    fs::copy(from, &partial)
        .and_then(|_| fs::rename(&partial, to))
        .map_err(|e| {
            drop(fs::remove_file(&partial));
            RegistryError::io("copy", from, e)
        })
}

fn write_blob(blobs_dir: &Path, digest: &str, bytes: &[u8]) -> Result<()> {
    let path = blobs_dir.join(&digest["sha256:".len()..]);
    fs::write(&path, bytes).map_err(|e| RegistryError::io("write", &path, e))
}

/// `oci-layout` and an `index.json` naming the one image by its local tag (none for a pull
/// by digest only: Docker keeps those untagged).
fn write_layout(
    layout: &Path,
    name: &ImageName,
    media_type: &str,
    digest: &str,
    size: usize,
) -> Result<()> {
    let mut descriptor = serde_json::json!({
        "mediaType": media_type,
        "digest": digest,
        "size": size,
    });
    if let (Some(local), Some(tag)) = (name.local_tag(), name.tag()) {
        descriptor["annotations"] = serde_json::json!({
            ANNOTATION_IMAGE_NAME: local,
            ANNOTATION_REF_NAME: tag,
        });
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
        "manifests": [descriptor],
    });
    let files = [
        (
            "oci-layout",
            serde_json::json!({"imageLayoutVersion": "1.0.0"}),
        ),
        ("index.json", index),
    ];
    for (file, document) in files {
        let path = layout.join(file);
        fs::write(&path, document.to_string()).map_err(|e| RegistryError::io("write", &path, e))?;
    }
    Ok(())
}
