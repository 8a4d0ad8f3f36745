//! Image names as Docker reads them: `busybox` is `docker.io/library/busybox:latest`,
//! `localhost:5000/x` names a registry by its host, `NAME@sha256:...` pins a digest.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

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
        let invalid = |reason: &str| RegistryError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let parts = reference_grammar()
            .captures(name)
            .ok_or_else(|| invalid("invalid reference format"))?;
        let (registry, repository) = split_domain(&parts[1]);
        if repository.len() > 255 {
            return Err(invalid(
                "repository name must not be more than 255 characters",
            ));
        }
        let tag = parts.get(2).map(|m| m.as_str().to_owned());
        let digest = parts.get(3).map(|m| m.as_str().to_owned());
        if let Some(digest) = &digest {
            let (algorithm, hex) = digest.split_once(':').unwrap_or_default();
            match (algorithm, hex.len()) {
                ("sha256", 64) | ("sha384", 96) | ("sha512", 128) => {}
                ("sha256" | "sha384" | "sha512", _) => {
                    return Err(invalid("invalid checksum digest length"))
                }
                _ => return Err(invalid("unsupported digest algorithm")),
            }
        }
        let reference = match (tag, digest) {
            (Some(tag), Some(digest)) => {
                oci_client::Reference::with_tag_and_digest(registry, repository, tag, digest)
            }
            (None, Some(digest)) => {
                oci_client::Reference::with_digest(registry, repository, digest)
            }
            (tag, None) => oci_client::Reference::with_tag(
                registry,
                repository,
                tag.unwrap_or_else(|| "latest".to_owned()),
            ),
        };
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

/// Docker's reference grammar (distribution's `reference` package), built from its parts.
/// The language oci-spec's parser accepts, except that word characters are ASCII as in Go's
/// regexp (Docker's), where oci-spec's Unicode `\w{0,127}` takes ~25 ms to compile in every
/// process that parses a name.
fn reference_grammar() -> &'static Regex {
    static GRAMMAR: OnceLock<Regex> = OnceLock::new();
    GRAMMAR.get_or_init(|| {
        let alphanumeric = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]*)";
        let path_component = format!("{alphanumeric}(?:{separator}{alphanumeric})*");
        let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain = format!(r"{domain_component}(?:\.{domain_component})*(?::[0-9]+)?");
        let name = format!("(?:{domain}/)?{path_component}(?:/{path_component})*");
        let tag = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
        let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
        Regex::new(&format!("^({name})(?::({tag}))?(?:@({digest}))?$"))
            .expect("the reference grammar is a valid regex")
    })
}

/// Docker's split of a name into registry and repository: the first component is a registry
/// when it looks like a host (a `.` or `:`, or `localhost`); Docker Hub's own images are
/// under `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, name),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    };
    (registry.to_owned(), repository)
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

    /// The same names in, the same parts (or a refusal) out as oci-spec's own parser.
    #[test]
    fn parses_as_oci_spec_does() {
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let names = [
            "busybox".to_owned(),
            "busybox:1.36".to_owned(),
            "library/busybox".to_owned(),
            "index.docker.io/busybox".to_owned(),
            "docker.io/someone/tool:v1.2_3-rc".to_owned(),
            "localhost/app".to_owned(),
            "localhost:5000/team/app:v1".to_owned(),
            "127.0.0.1:5000/a/b/c".to_owned(),
            "registry.example.com/x__y/z.w-q---r:latest".to_owned(),
            "sub.registry-1.example.com:443/app".to_owned(),
            format!("app@{digest}"),
            format!("localhost:5000/app:tag@{digest}"),
            format!("app@sha512:{}", "a".repeat(128)),
            format!("app@sha512:{}", "a".repeat(64)),
            format!("app@md5:{}", "a".repeat(32)),
            "app@sha256:short".to_owned(),
            "Upper/Case".to_owned(),
            "Registry.Example.com/app".to_owned(),
            "app:".to_owned(),
            "app:.bad".to_owned(),
            format!("app:{}", "t".repeat(128)),
            format!("app:{}", "t".repeat(129)),
            "-app".to_owned(),
            "app-".to_owned(),
            "a//b".to_owned(),
            "a/".to_owned(),
            "".to_owned(),
            "a b".to_owned(),
            "registry:5000".to_owned(),
            "registry:notaport/app".to_owned(),
            format!("x/{}", "y".repeat(300)),
        ];
        for name in &names {
            let ours = ImageName::parse(name).map(|n| {
                let r = n.reference;
                (
                    r.registry().to_owned(),
                    r.repository().to_owned(),
                    r.tag().map(str::to_owned),
                    r.digest().map(str::to_owned),
                )
            });
            let theirs = name.parse::<oci_client::Reference>().map(|r| {
                (
                    r.registry().to_owned(),
                    r.repository().to_owned(),
                    r.tag().map(str::to_owned),
                    r.digest().map(str::to_owned),
                )
            });
            assert_eq!(ours.ok(), theirs.ok(), "{name:?}");
        }
        // Docker's word characters are ASCII: oci-spec would take this tag, Docker does not.
        assert!(ImageName::parse("app:t\u{e9}").is_err());
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
