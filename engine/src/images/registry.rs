//! Images from and to registries: pull (also the implicit one of `run`, `create` and
//! build's `FROM`), push, login and logout. The registry crate moves and verifies bytes;
//! the store loads a pull's OCI layout with every check `hull load` makes.

use std::path::PathBuf;

use hull_registry::{
    CredentialStore, ImageName, PushSource, Session, TransferEvent, TransferObserver,
};
use hull_rootfs::{BaseImage, StoredBlob};

use super::{ImageProgress, Images, ProgressOf};
use crate::error::{Error, Result};

pub use hull_registry::{Credential, RegistryError};

/// When `run`, `create` and `build` pull (`--pull`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only an image that is not stored (Docker's default).
    #[default]
    Missing,
    /// Every time, so a newer image under the tag replaces the stored one.
    Always,
    /// Never: a missing image is an error.
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "missing" => Ok(Self::Missing),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => Err(Error::InvalidArgument(format!(
                "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
            ))),
        }
    }
}

/// A finished push.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The tag pushed.
    pub tag: String,
    /// `sha256:` of the manifest in the registry.
    pub digest: String,
    /// The manifest's size.
    pub size: usize,
}

/// Forwards the registry client's blob events to the front-end, after a heading line that
/// waits for the first event: a pull that fails before any blob moves (unknown name, no
/// access) has said nothing yet, so an API front-end can still answer with an HTTP error.
pub(super) struct Transfers<'a> {
    progress: &'a dyn ImageProgress,
    heading: std::cell::Cell<Option<String>>,
}

impl<'a> Transfers<'a> {
    pub(super) fn new(progress: &'a dyn ImageProgress, heading: String) -> Self {
        Self {
            progress,
            heading: std::cell::Cell::new(Some(heading)),
        }
    }

    pub(super) fn flush_heading(&self) {
        if let Some(line) = self.heading.take() {
            self.progress.pull_status(&line);
        }
    }
}

impl TransferObserver for Transfers<'_> {
    fn blob(&self, blob: &str, event: TransferEvent) {
        self.flush_heading();
        self.progress.transfer(blob, &event);
    }
}

impl Images {
    /// `reference` by `policy`: the stored image, an offline base image made on first use
    /// (busybox, debian:bookworm, scratch: this host has no registry to pull them from), or
    /// a pull.
    pub fn resolve_with(
        &self,
        reference: &str,
        policy: PullPolicy,
        progress: &dyn ImageProgress,
    ) -> Result<hull_rootfs::Image> {
        if policy != PullPolicy::Always {
            if let Ok(image) = self.store.resolve(reference) {
                return Ok(image);
            }
            if policy == PullPolicy::Never {
                return Err(Error::NoSuchImage(reference.to_string()));
            }
        }
        if is_offline_base(reference) && policy == PullPolicy::Missing {
            progress.missing_locally(reference);
            let bar: &dyn hull_rootfs::Progress = &ProgressOf(progress);
            if let Some(image) = self.store.ensure_base_image(reference, bar)? {
                return Ok(image);
            }
        }
        if policy == PullPolicy::Missing {
            progress.missing_locally(reference);
        }
        Ok(self.pull(reference, None, None, progress)?.image)
    }

    /// `hull push NAME[:TAG]`: the stored image under that name, to its registry.
    pub fn push(
        &self,
        reference: &str,
        credential: Option<Credential>,
        progress: &dyn ImageProgress,
    ) -> Result<Pushed> {
        let name = ImageName::parse(reference)?;
        let stored = match self.store.stored_manifest(reference) {
            Ok(stored) => stored,
            Err(hull_rootfs::StoreError::ImageNotFound(_)) => {
                return Err(Error::NotTaggedLocally(name.familiar_repository()))
            }
            Err(e) => return Err(e.into()),
        };
        let tag = name.tag().unwrap_or("latest").to_string();
        let heading = format!("The push refers to repository [{}]", name.full_repository());
        let mount_from = stored
            .references
            .iter()
            .filter_map(|r| ImageName::parse(r).ok())
            .filter(|other| other.registry() == name.registry())
            .map(|other| other.repository().to_string())
            .collect();
        let blob = |b: &StoredBlob| hull_registry::PushBlob {
            digest: b.digest.clone(),
            size: b.size,
            path: b.path.clone(),
        };
        let source = PushSource {
            manifest: stored.manifest.clone(),
            media_type: stored.media_type.clone(),
            config: blob(&stored.config),
            layers: stored.layers.iter().rev().map(blob).collect(),
            mount_from,
        };
        let session = self.session(name.registry(), credential)?;
        let transfers = Transfers::new(progress, heading);
        let pushed = session.push(&name, &source, &transfers)?;
        transfers.flush_heading();
        self.store.add_repo_digest(
            &stored.id,
            &format!("{}@{}", name.familiar_repository(), pushed.digest),
        )?;
        progress.pull_status(&format!(
            "{tag}: digest: {} size: {}",
            pushed.digest, pushed.size
        ));
        self.record_event(
            "push",
            &stored.id,
            &format!("{}:{tag}", name.familiar_repository()),
        );
        Ok(Pushed {
            tag,
            digest: pushed.digest,
            size: pushed.size,
        })
    }

    /// `hull login [REGISTRY]`: checks `credential` with the registry, then stores it.
    /// Returns the file it went to.
    pub fn login(&self, registry: Option<&str>, credential: Credential) -> Result<PathBuf> {
        let registry = self.check_login(registry, &credential)?;
        let credentials = CredentialStore::from_env();
        credentials.set(&hull_registry::auth_key(&registry), &credential)?;
        Ok(credentials.path().to_path_buf())
    }

    /// Checks `credential` with `registry` (default Docker Hub) without storing it (the
    /// API's `/auth`: clients keep their own credentials). Returns the registry host.
    pub fn check_login(&self, registry: Option<&str>, credential: &Credential) -> Result<String> {
        let registry = registry_host(registry);
        let credentials = CredentialStore::from_env();
        Session::with_credential(&registry, &credentials, Some(credential.clone()))?
            .verify_login()?;
        Ok(registry)
    }

    /// `hull logout [REGISTRY]`: forgets the stored credential; false when there was none.
    pub fn logout(&self, registry: Option<&str>) -> Result<bool> {
        let registry = registry_host(registry);
        Ok(CredentialStore::from_env().remove(&hull_registry::auth_key(&registry))?)
    }

    pub(super) fn session(
        &self,
        registry: &str,
        credential: Option<Credential>,
    ) -> Result<Session> {
        let credentials = CredentialStore::from_env();
        Ok(match credential {
            Some(credential) => Session::with_credential(registry, &credentials, Some(credential))?,
            None => Session::open(registry, &credentials)?,
        })
    }
}

/// Whether `reference` names a base image hull makes offline (busybox, debian:bookworm,
/// scratch) rather than pulls.
pub fn is_offline_base(reference: &str) -> bool {
    BaseImage::for_reference(reference).is_some() && !reference.contains('@')
}

/// The registry `login`/`logout` talk to: Docker Hub by default; a URL's host.
fn registry_host(registry: Option<&str>) -> String {
    let registry = registry.unwrap_or(hull_registry::DOCKER_HUB);
    let host = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(registry);
    match host {
        "index.docker.io" | "registry-1.docker.io" => hull_registry::DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}
