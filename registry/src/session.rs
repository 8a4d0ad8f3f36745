//! One registry conversation: an oci-client over plain HTTP only for loopback and configured
//! insecure registries, the user's credentials, and the small runtime it runs on (the
//! engine is synchronous; a pull's parallel downloads are concurrent I/O on one thread).

use std::future::Future;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

use crate::credentials::{Credential, CredentialStore};
use crate::error::{RegistryError, Result};
use crate::name::{is_loopback, ImageName};

/// How many blobs move at once in a pull or push.
pub const PARALLEL_TRANSFERS: usize = 4;

/// A client bound to one registry with the credentials for it.
pub struct Session {
    pub(crate) client: oci_client::Client,
    pub(crate) auth: RegistryAuth,
    pub(crate) registry: String,
    runtime: tokio::runtime::Runtime,
}

/// The platform a pull picks from a manifest list (`--platform os/arch[/variant]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`.
    pub architecture: String,
    /// `v8` for `arm64/v8`, when given.
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl Platform {
    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: parts.get(2).map(|v| (*v).to_owned()),
            }),
            _ => Err(RegistryError::InvalidName {
                name: text.to_owned(),
                reason: "a platform is os/arch[/variant], e.g. linux/amd64".into(),
            }),
        }
    }

    pub(crate) fn matches(&self, entry: &ImageIndexEntry) -> bool {
        entry.platform.as_ref().is_some_and(|p| {
            p.os.to_string() == self.os
                && p.architecture.to_string() == self.architecture
                && self
                    .variant
                    .as_ref()
                    .is_none_or(|v| p.variant.as_deref() == Some(v.as_str()))
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl Session {
    /// A session with `registry`, authenticated with the stored credential if there is one.
    pub fn open(registry: &str, credentials: &CredentialStore) -> Result<Self> {
        let stored = credentials.get(&crate::name::auth_key(registry))?;
        Self::with_credential(registry, credentials, stored)
    }

    /// A session with an explicit credential (`login`, an API request's `X-Registry-Auth`).
    pub fn with_credential(
        registry: &str,
        credentials: &CredentialStore,
        credential: Option<Credential>,
    ) -> Result<Self> {
        // reqwest is built without a bundled crypto provider: ring is the workspace's (it
        // builds from crates alone; aws-lc-rs needs cmake).
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let insecure = credentials.insecure_registries()?;
        let plain_http = is_loopback(registry) || insecure.iter().any(|r| r == registry);
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            // The index is resolved by hand (Self::pull picks the platform), never by the client.
            platform_resolver: None,
            max_concurrent_download: PARALLEL_TRANSFERS,
            max_concurrent_upload: PARALLEL_TRANSFERS,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("hull/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Protocol {
                registry: registry.to_owned(),
                reason: format!("cannot start the I/O runtime: {e}"),
            })?;
        let auth = match credential {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        Ok(Self {
            client: oci_client::Client::new(config),
            auth,
            registry: registry.to_owned(),
            runtime,
        })
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Checks the session's credential against the registry (`hull login`): a token exchange
    /// where the registry uses tokens, else a request that needs the credential.
    pub fn verify_login(&self) -> Result<()> {
        let probe = ImageName::parse(&format!("{}/hull-login-probe", self.registry))?;
        let classify = |e| RegistryError::from_client(&self.registry, &probe.to_string(), e);
        self.block_on(async {
            self.client
                .auth(probe.reference(), &self.auth, RegistryOperation::Pull)
                .await
                .map_err(classify)?;
            // Basic-auth registries accept any credential at auth(): a HEAD that needs one
            // tells. An unknown blob (404) is the expected answer with a good credential.
            let digest = format!("sha256:{}", "0".repeat(64));
            match self.client.blob_exists(probe.reference(), &digest).await {
                Ok(_) => Ok(()),
                Err(e) => match classify(e) {
                    RegistryError::NotFound { .. } => Ok(()),
                    other => Err(other),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse() {
        assert_eq!(Platform::parse("linux/amd64").unwrap(), Platform::default());
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(arm.variant.as_deref(), Some("v8"));
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        assert!(Platform::parse("amd64").is_err());
        assert!(Platform::parse("linux/").is_err());
    }
}
