//! Manifests and indexes off the wire: fetched with a size cap, checked against the digest
//! that named them, and the image manifest for a platform picked out of an index.

use oci_client::manifest::{
    OciDescriptor, OciImageIndex, OciImageManifest, IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};
use crate::name::ImageName;
use crate::session::{Platform, Session};

/// A manifest or index larger than this is refused (Docker's limit is 4 MiB as well).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Every manifest kind a pull accepts, in preference order.
const ACCEPTED: [&str; 4] = [
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
];

/// An image manifest as fetched: its exact bytes (its digest is the image's identity in the
/// registry), media type and parsed form.
pub(crate) struct FetchedManifest {
    pub(crate) bytes: Vec<u8>,
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) manifest: OciImageManifest,
}

/// The sha256 digest of `bytes`, as `sha256:<hex>`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format_digest(&Sha256::digest(bytes))
}

/// `sha256:<hex>` of a finished sha256 hash.
pub(crate) fn format_digest(hash: &[u8]) -> String {
    let mut text = String::with_capacity(71);
    text.push_str("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Whether `digest` is `sha256:` and 64 lower-case hex digits (the only form stored).
pub(crate) fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// What a manifest document is, from its own `mediaType` (or its shape when absent).
fn kind_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).ok()?;
    probe
        .media_type
        .or_else(|| match (probe.manifests, probe.config) {
            (Some(_), None) => Some(OCI_IMAGE_INDEX_MEDIA_TYPE.to_owned()),
            (None, Some(_)) => Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
            _ => None,
        })
}

impl Session {
    /// Fetches `name`'s manifest; resolves an index to `platform`'s image manifest.
    pub(crate) async fn fetch_image_manifest(
        &self,
        name: &ImageName,
        platform: &Platform,
    ) -> Result<FetchedManifest> {
        let (bytes, digest) = self.fetch_document(name, name.digest()).await?;
        let media_type = self.media_type(name, &bytes)?;
        if media_type != OCI_IMAGE_INDEX_MEDIA_TYPE && media_type != IMAGE_MANIFEST_LIST_MEDIA_TYPE
        {
            return self.image_manifest(name, bytes, media_type, digest);
        }
        let index: OciImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(name, format!("image index: {e}")))?;
        let entry = index
            .manifests
            .iter()
            .find(|entry| platform.matches(entry))
            .ok_or_else(|| RegistryError::NoPlatform {
                name: name.to_string(),
                platform: platform.to_string(),
            })?;
        if !is_sha256(&entry.digest) {
            return Err(self.corrupt(name, format!("unsupported digest {:?}", entry.digest)));
        }
        let chosen = name.with_digest(&entry.digest);
        let (bytes, digest) = self.fetch_document(&chosen, Some(&entry.digest)).await?;
        let media_type = self.media_type(&chosen, &bytes)?;
        if media_type == OCI_IMAGE_INDEX_MEDIA_TYPE || media_type == IMAGE_MANIFEST_LIST_MEDIA_TYPE
        {
            return Err(self.corrupt(&chosen, "an index nested in an index".into()));
        }
        self.image_manifest(&chosen, bytes, media_type, digest)
    }

    /// One manifest document, capped and checked against `pinned` (the digest that named it).
    async fn fetch_document(
        &self,
        name: &ImageName,
        pinned: Option<&str>,
    ) -> Result<(Vec<u8>, String)> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(name.reference(), &self.auth, &ACCEPTED)
            .await
            .map_err(|e| RegistryError::from_client(&self.registry, &name.to_string(), e))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(self.corrupt(
                name,
                format!(
                    "the manifest is {} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
                    bytes.len()
                ),
            ));
        }
        // The client checks the registry's Docker-Content-Digest too; the bytes are what count.
        let digest = sha256_digest(&bytes);
        if let Some(pinned) = pinned {
            if pinned != digest {
                return Err(self.corrupt(
                    name,
                    format!("the manifest's digest is {digest}, not {pinned}"),
                ));
            }
        }
        Ok((bytes.to_vec(), digest))
    }

    fn media_type(&self, name: &ImageName, bytes: &[u8]) -> Result<String> {
        let media_type = kind_of(bytes)
            .ok_or_else(|| self.corrupt(name, "not a manifest or index document".into()))?;
        if ACCEPTED.contains(&media_type.as_str()) {
            Ok(media_type)
        } else {
            Err(RegistryError::Protocol {
                registry: self.registry.clone(),
                reason: format!(
                    "{name} is a {media_type}, not a container image (schema 1 and artifacts are \
                     not supported)"
                ),
            })
        }
    }

    fn image_manifest(
        &self,
        name: &ImageName,
        bytes: Vec<u8>,
        media_type: String,
        digest: String,
    ) -> Result<FetchedManifest> {
        let manifest: OciImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(name, format!("image manifest: {e}")))?;
        for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
            check_descriptor(descriptor).map_err(|reason| self.corrupt(name, reason))?;
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
            manifest,
        })
    }

    pub(crate) fn corrupt(&self, name: &ImageName, reason: String) -> RegistryError {
        RegistryError::Corrupt {
            registry: self.registry.clone(),
            what: name.to_string(),
            reason,
        }
    }
}

/// A blob descriptor hull can fetch: a sha256 digest and a plausible size.
fn check_descriptor(descriptor: &OciDescriptor) -> Result<(), String> {
    if !is_sha256(&descriptor.digest) {
        return Err(format!(
            "unsupported or malformed digest {:?} (only sha256)",
            descriptor.digest
        ));
    }
    if descriptor.size < 0 {
        return Err(format!("negative size for blob {}", descriptor.digest));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_media_type_or_shape() {
        let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}"#;
        assert_eq!(kind_of(docker).as_deref(), Some(IMAGE_MANIFEST_MEDIA_TYPE));
        let bare_index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            kind_of(bare_index).as_deref(),
            Some(OCI_IMAGE_INDEX_MEDIA_TYPE)
        );
        let bare_manifest = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(
            kind_of(bare_manifest).as_deref(),
            Some(OCI_IMAGE_MEDIA_TYPE)
        );
        assert_eq!(kind_of(b"not json"), None);
        assert_eq!(kind_of(b"{}"), None);
    }

    #[test]
    fn digests_are_checked_strictly() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_sha256(&sha256_digest(b"x")));
        assert!(!is_sha256("sha256:ABC"));
        assert!(!is_sha256("sha512:00"));
        assert!(!is_sha256(&format!("sha256:{}/..", "0".repeat(62))));
    }
}
