//! Image references: `NAME[:TAG]` normalisation (Docker's rules, minus registries we never
//! contact) and id / id-prefix recognition.

use crate::digest::SHA256_PREFIX;
use crate::error::{Result, StoreError};

/// The tag a reference without one gets.
pub const DEFAULT_TAG: &str = "latest";

/// Prefixes Docker hides when showing names, so `docker.io/library/busybox` == `busybox`.
const HIDDEN_PREFIXES: [&str; 3] = [
    "docker.io/library/",
    "index.docker.io/library/",
    "docker.io/",
];

/// Normalises `NAME[:TAG]` to `name:tag` (default tag `latest`, Docker Hub prefixes dropped).
pub fn normalize(reference: &str) -> Result<String> {
    let invalid = |reason| StoreError::InvalidReference {
        reference: reference.to_owned(),
        reason,
    };
    if reference.contains('@') {
        return Err(invalid(
            "digest references (NAME@sha256:...) are not supported; use NAME:TAG or the image id",
        ));
    }
    let mut name = reference;
    for prefix in HIDDEN_PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest;
            break;
        }
    }
    // A ':' after the last '/' starts the tag; one before it is a registry port.
    let (name, tag) = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], &name[i + 1..]),
        _ => (name, DEFAULT_TAG),
    };
    if name.is_empty() || name.len() > 255 {
        return Err(invalid("the name must be 1 to 255 characters"));
    }
    let name_ok = name
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/' | b':'))
        && !name.starts_with(['.', '_', '-', '/'])
        && !name.ends_with(['.', '_', '-', '/'])
        && !name.contains("//");
    if !name_ok {
        return Err(invalid(
            "names are lower-case letters, digits and . _ - / separators",
        ));
    }
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !tag_ok {
        return Err(invalid(
            "tags are up to 128 letters, digits, _ . - (not starting with . or -)",
        ));
    }
    Ok(format!("{name}:{tag}"))
}

/// Splits a normalised `name:tag` into its parts.
pub fn split(normalized: &str) -> (&str, &str) {
    match normalized.rfind(':') {
        Some(i) if !normalized[i..].contains('/') => (&normalized[..i], &normalized[i + 1..]),
        _ => (normalized, DEFAULT_TAG),
    }
}

/// The hex id prefix in `reference` if it can be one (`sha256:abc...` or bare hex).
pub(crate) fn id_prefix(reference: &str) -> Option<&str> {
    let hex = reference.strip_prefix(SHA256_PREFIX).unwrap_or(reference);
    let ok = !hex.is_empty()
        && hex.len() <= 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(normalize("busybox").unwrap(), "busybox:latest");
        assert_eq!(
            normalize("docker.io/library/busybox:1.36").unwrap(),
            "busybox:1.36"
        );
        assert_eq!(
            normalize("localhost:5000/app").unwrap(),
            "localhost:5000/app:latest"
        );
        assert_eq!(normalize("debian:bookworm").unwrap(), "debian:bookworm");
        assert_eq!(split("localhost:5000/app:v1"), ("localhost:5000/app", "v1"));
    }

    #[test]
    fn rejects_bad_references_with_a_reason() {
        for bad in [
            "",
            "Busybox",
            "busy box",
            "a:",
            "a:-x",
            "x@sha256:00",
            "/abs",
            "a//b",
        ] {
            let err = normalize(bad).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn recognizes_id_prefixes() {
        assert_eq!(id_prefix("sha256:abc"), Some("abc"));
        assert_eq!(id_prefix("0f3e"), Some("0f3e"));
        assert_eq!(id_prefix("busybox"), None);
    }
}
