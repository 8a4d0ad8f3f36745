//! Image names as Docker reads them: `busybox` is `docker.io/library/busybox:latest`,
//! `localhost:5000/x` names a registry by its host, `NAME@sha256:...` pins a digest.

use std::fmt;

use crate::error::{RegistryError, Result};

/// Docker Hub's registry, as written in image names.
pub const DOCKER_HUB: &str = "docker.io";

/// The key Docker's `config.json` files Docker Hub credentials under.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A fully qualified image name: registry, repository and a tag or a digest (or both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    reference: oci_client::Reference,
}

impl ImageName {
    /// Parses `NAME[:TAG][@DIGEST]` with Docker's defaults (Docker Hub, `library/`, `latest`).
    pub fn parse(name: &str) -> Result<Self> {
        let reference: oci_client::Reference =
            name.parse().map_err(|error| RegistryError::InvalidName {
                name: name.to_owned(),
                reason: format!("{error}"),
            })?;
        Ok(Self { reference })
    }

    /// The registry host as written (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        self.reference.registry()
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn repository(&self) -> &str {
        self.reference.repository()
    }

    /// The tag, when the name has one (a name without tag or digest has `latest`).
    pub fn tag(&self) -> Option<&str> {
        self.reference.tag()
    }

    /// The pinned digest, when given.
    pub fn digest(&self) -> Option<&str> {
        self.reference.digest()
    }

    /// `registry/repository` (`docker.io/library/busybox`), Docker's full repository name.
    pub fn full_repository(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// The repository as Docker shows it: `busybox` for Docker Hub's library, else in full.
    pub fn familiar_repository(&self) -> String {
        if self.registry() != DOCKER_HUB {
            return self.full_repository();
        }
        let repository = self.repository();
        repository
            .strip_prefix("library/")
            .unwrap_or(repository)
            .to_owned()
    }

    /// The local `name:tag` this image is stored under after a pull (none for a digest-only
    /// name: Docker keeps such an image untagged).
    pub fn local_tag(&self) -> Option<String> {
        self.tag()
            .map(|tag| format!("{}:{tag}", self.familiar_repository()))
    }

    /// The same repository at `digest`.
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            reference: oci_client::Reference::with_digest(
                self.registry().to_owned(),
                self.repository().to_owned(),
                digest.to_owned(),
            ),
        }
    }

    /// Another repository of the same registry (a cross-repository mount's source).
    pub fn sibling(&self, repository: &str) -> Self {
        Self {
            reference: oci_client::Reference::with_tag(
                self.registry().to_owned(),
                repository.to_owned(),
                "latest".to_owned(),
            ),
        }
    }

    /// The key credentials for this registry are filed under (Docker's convention).
    pub fn auth_key(&self) -> String {
        auth_key(self.registry())
    }

    pub(crate) fn reference(&self) -> &oci_client::Reference {
        &self.reference
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference.whole())
    }
}

/// The credentials key of `registry` (`docker.io` and its aliases share Docker Hub's key).
pub fn auth_key(registry: &str) -> String {
    let host = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2");
    match host {
        "" | DOCKER_HUB | "index.docker.io" | "registry-1.docker.io" => {
            DOCKER_HUB_AUTH_KEY.to_owned()
        }
        other => other.to_owned(),
    }
}

/// True for a registry on a loopback address: plain HTTP is allowed there, as in Docker.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults() {
        let name = ImageName::parse("busybox").unwrap();
        assert_eq!(name.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(name.local_tag().as_deref(), Some("busybox:latest"));
        assert_eq!(name.auth_key(), DOCKER_HUB_AUTH_KEY);
        let name = ImageName::parse("docker.io/someone/tool:1.2").unwrap();
        assert_eq!(name.local_tag().as_deref(), Some("someone/tool:1.2"));
    }

    #[test]
    fn registry_hosts_and_digests() {
        let name = ImageName::parse("localhost:5000/team/app:v1").unwrap();
        assert_eq!(name.registry(), "localhost:5000");
        assert_eq!(name.repository(), "team/app");
        assert_eq!(
            name.local_tag().as_deref(),
            Some("localhost:5000/team/app:v1")
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = ImageName::parse(&format!("localhost:5000/app@{digest}")).unwrap();
        assert_eq!(pinned.digest(), Some(digest.as_str()));
        assert_eq!(pinned.local_tag(), None);
        assert!(ImageName::parse("Upper/Case").is_err());
        assert!(ImageName::parse("app@sha256:short").is_err());
    }

    #[test]
    fn loopback_registries() {
        for registry in [
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(registry), "{registry}");
        }
        for registry in ["docker.io", "10.0.0.1:5000", "localhost.example.com:5000"] {
            assert!(!is_loopback(registry), "{registry}");
        }
    }
}
