//! `hull pull`: a registry's image into the store (the registry client fetches and checks
//! the bytes, the store loads them as an OCI layout), or an offline base image when its
//! registry cannot be reached.

use hull_registry::{ImageName, Platform, PullTarget, Session, TransferEvent};

use super::arrivals::Arrivals;
use super::registry::{is_offline_base, Transfers};
use super::{ImageProgress, Images, ProgressOf};
use crate::error::{Error, Result};
use hull_registry::{Credential, RegistryError};

/// How a pull ended (Docker's `Status:` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// The stored image under the name changed.
    Downloaded,
    /// The name already named this image.
    UpToDate,
}

/// A finished pull.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image, stored.
    pub image: hull_rootfs::Image,
    /// The full name pulled (`docker.io/library/busybox:latest`).
    pub name: String,
    /// The name as the store knows it (`busybox:latest`), or `repo@digest` for a digest pull.
    pub local_name: String,
    /// `sha256:` of the manifest.
    pub digest: String,
    /// Downloaded or up to date.
    pub status: PullStatus,
}

impl Images {
    /// `hull pull NAME[:TAG|@DIGEST]` for `platform` (default linux/amd64), with the stored
    /// credential for the registry or `credential` (an API request's).
    ///
    /// busybox, debian:bookworm and scratch are made offline when their registry cannot be
    /// reached (this project's hosts have none): compose and `docker pull busybox` through
    /// the API work without a network, as they did before hull had a registry client.
    pub fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        credential: Option<Credential>,
        progress: &dyn ImageProgress,
    ) -> Result<Pulled> {
        let name = ImageName::parse(reference)?;
        let parsed_platform = platform
            .map(Platform::parse)
            .transpose()?
            .unwrap_or_default();
        let fetched = self
            .session(name.registry(), credential)
            .and_then(|session| self.pull_from(&session, &name, &parsed_platform, progress));
        match fetched {
            Err(Error::Registry(RegistryError::Unreachable { registry, .. }))
                if is_offline_base(reference) && platform.is_none_or(|p| p == "linux/amd64") =>
            {
                self.make_offline(reference, &registry, progress)
            }
            other => other,
        }
    }

    /// The offline base image `reference` in place of a pull from unreachable `registry`.
    fn make_offline(
        &self,
        reference: &str,
        registry: &str,
        progress: &dyn ImageProgress,
    ) -> Result<Pulled> {
        let name = ImageName::parse(reference)?;
        let local_name = name.local_tag().unwrap_or_else(|| reference.to_string());
        let before = self.store.resolve(&local_name).ok().map(|image| image.id);
        progress.pull_status(&format!(
            "{registry} cannot be reached: {local_name} is hull's offline base image"
        ));
        let bar: &dyn hull_rootfs::Progress = &ProgressOf(progress);
        let image = self
            .store
            .ensure_base_image(reference, bar)?
            .ok_or_else(|| Error::NotABaseImage(reference.to_string()))?;
        let status = if before.as_deref() == Some(image.id.as_str()) {
            progress.pull_status(&format!("Status: Image is up to date for {local_name}"));
            PullStatus::UpToDate
        } else {
            progress.pull_status(&format!("Status: Made {local_name} offline"));
            PullStatus::Downloaded
        };
        Ok(Pulled {
            digest: image.manifest_digest.clone(),
            image,
            name: name.to_string(),
            local_name,
            status,
        })
    }

    /// The pull proper: manifest and blobs from `session`'s registry, loaded into the store.
    fn pull_from(
        &self,
        session: &Session,
        name: &ImageName,
        platform: &Platform,
        progress: &dyn ImageProgress,
    ) -> Result<Pulled> {
        let shown_ref = name.digest().or(name.tag()).unwrap_or("latest");
        let heading = format!("{shown_ref}: Pulling from {}", name.familiar_repository());
        let local_name = name.local_tag().unwrap_or_else(|| {
            format!(
                "{}@{}",
                name.familiar_repository(),
                name.digest().unwrap_or_default()
            )
        });
        let before = self.store.resolve(&local_name).ok().map(|image| image.id);

        let downloads = self.root.join("downloads");
        std::fs::create_dir_all(&downloads)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", downloads.display()))?;
        let layout = super::downloads::LockedLayout::create(&downloads).map_err(|e| {
            anyhow::anyhow!("cannot create a directory in {}: {e}", downloads.display())
        })?;
        let cache = downloads.join("sha256");
        let store = &self.store;
        let local_blob = |digest: &str| store.blob_file(digest);
        let arrivals = Arrivals::default();
        let layout_ready = || arrivals.layout_ready();
        let target = PullTarget {
            cache: &cache,
            layout: layout.path(),
            local_blob: &local_blob,
            layout_ready: &layout_ready,
        };
        let started = std::time::Instant::now();
        let transfers = Transfers::new(progress, heading);
        let bar: &dyn hull_rootfs::Progress = &ProgressOf(progress);
        // Layers convert while the later ones download: the store takes each blob from the
        // layout as it arrives (linked, not copied: the layout is this pull's own). Quiet
        // meanwhile, as the download's lines are on screen; a line for what is left after.
        let (pulled, downloaded, loaded) = std::thread::scope(|scope| {
            let converter = scope.spawn(|| {
                let arrived = |member: &str| arrivals.wait_for_file(&layout.path().join(member));
                arrivals.wait_for_layout().then(|| {
                    self.store
                        .load_verified_layout(layout.path(), &arrived, &())
                })
            });
            let pulled = session.pull(name, platform, &target, &transfers);
            arrivals.finished();
            let downloaded = started.elapsed();
            let converting = pulled.is_ok() && !converter.is_finished();
            if converting {
                transfers.flush_heading();
                bar.start("converting layers", None);
            }
            let loaded = converter.join();
            if converting {
                bar.finish();
            }
            (pulled, downloaded, loaded)
        });
        // The download's error first: a conversion cut short by it only echoes it.
        let pulled = pulled?;
        transfers.flush_heading();
        let loaded = match loaded {
            Ok(Some(loaded)) => loaded?,
            Ok(None) => {
                return Err(anyhow::anyhow!("the pull finished without its image layout").into())
            }
            Err(_) => {
                return Err(
                    anyhow::anyhow!("converting the pulled layers failed unexpectedly").into(),
                )
            }
        };
        // The two phases, for tests/bench/pull.sh (skopeo copy only downloads).
        tracing::debug!(
            download_ms = downloaded.as_millis(),
            convert_ms = (started.elapsed() - downloaded).as_millis(),
            "pull phases"
        );
        let image = loaded
            .into_iter()
            .find(|image| image.id == pulled.config_digest)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the pulled image {} is missing after the load",
                    pulled.config_digest
                )
            })?;
        let fetched: Vec<String> = pulled
            .downloaded
            .iter()
            .filter_map(|file| Some(file.file_name()?.to_string_lossy().into_owned()))
            .collect();
        for file in &pulled.downloaded {
            let _ = std::fs::remove_file(file);
        }
        let repo_digest = format!("{}@{}", name.familiar_repository(), pulled.manifest_digest);
        self.store.add_repo_digest(&image.id, &repo_digest)?;
        for layer in &pulled.layer_digests {
            // Docker says `Pull complete` of the layers it fetched; the others `Already exists`.
            if fetched.iter().any(|hex| layer.ends_with(hex.as_str())) {
                let blob = hull_registry::short_digest(layer);
                progress.transfer(blob, &TransferEvent::Complete);
            }
        }
        progress.pull_status(&format!("Digest: {}", pulled.manifest_digest));
        let status = if before.as_deref() == Some(image.id.as_str()) {
            PullStatus::UpToDate
        } else {
            PullStatus::Downloaded
        };
        progress.pull_status(&match status {
            PullStatus::UpToDate => format!("Status: Image is up to date for {local_name}"),
            PullStatus::Downloaded => format!("Status: Downloaded newer image for {local_name}"),
        });
        self.record_event("pull", &image.id, &local_name);
        let image = self.store.resolve(&image.id)?;
        Ok(Pulled {
            image,
            name: name.to_string(),
            local_name,
            digest: pulled.manifest_digest,
            status,
        })
    }
}
