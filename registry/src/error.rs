//! The registry client's one error type: what went wrong, and what to do next.

use std::path::{Path, PathBuf};

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// Everything a pull, push or login can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Not an image name Docker would accept.
    #[error("invalid reference format {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// The registry could not be reached at all (offline, DNS, refused, TLS).
    #[error(
        "{name}: cannot reach the registry {registry} ({reason}); images can also come in \
         without a registry: `hull image bootstrap busybox|debian:bookworm|scratch` builds a \
         base image, `hull load -i FILE` imports a `docker save` or OCI archive"
    )]
    Unreachable {
        /// The image (or blob) asked for.
        name: String,
        /// The registry host.
        registry: String,
        /// The transport's complaint.
        reason: String,
    },
    /// A transfer broke off part-way (what arrived is kept for the next try).
    #[error("{registry}: {reason}")]
    Interrupted {
        /// The registry host.
        registry: String,
        /// What broke, and what to do.
        reason: String,
    },
    /// The registry refused the credentials (or wants some).
    #[error("{registry}: unauthorized: {reason}; run `hull login {registry}` with a valid user")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The registry's message.
        reason: String,
    },
    /// The name or tag does not exist there.
    #[error("manifest for {name} not found: manifest unknown")]
    NotFound {
        /// The full name asked for.
        name: String,
    },
    /// An index lists no image for the platform asked for.
    #[error("no matching manifest for {platform} in the manifest list entries of {name}")]
    NoPlatform {
        /// The full name.
        name: String,
        /// `os/arch`.
        platform: String,
    },
    /// What the registry sent is not what its digest promised, or breaks a limit.
    #[error("{what} from {registry} is corrupt: {reason}; nothing was stored")]
    Corrupt {
        /// The registry host.
        registry: String,
        /// Which document or blob.
        what: String,
        /// How it failed verification.
        reason: String,
    },
    /// Any other protocol-level failure.
    #[error("{registry}: {reason}")]
    Protocol {
        /// The registry host.
        registry: String,
        /// The client's message.
        reason: String,
    },
    /// The credentials or configuration file is unreadable.
    #[error("invalid configuration in {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A local file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The registry client's result type.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl RegistryError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// Sorts an oci-client error into what a user can act on.
    pub(crate) fn from_client(registry: &str, name: &str, error: OciDistributionError) -> Self {
        let registry = registry.to_owned();
        match error {
            OciDistributionError::RequestError(error)
                if error.is_connect() || error.is_timeout() =>
            {
                Self::Unreachable {
                    name: name.to_owned(),
                    registry,
                    reason: root_cause(&error),
                }
            }
            OciDistributionError::RequestError(error)
                if matches!(error.status().map(|s| s.as_u16()), Some(401 | 403)) =>
            {
                Self::Unauthorized {
                    registry,
                    reason: "the registry refused the credentials".into(),
                }
            }
            OciDistributionError::RequestError(error)
                if error.status().map(|s| s.as_u16()) == Some(404) =>
            {
                Self::NotFound {
                    name: name.to_owned(),
                }
            }
            OciDistributionError::AuthenticationFailure(reason) => {
                Self::Unauthorized { registry, reason }
            }
            OciDistributionError::UnauthorizedError { .. } => Self::Unauthorized {
                registry,
                reason: "authentication required".into(),
            },
            OciDistributionError::ServerError {
                code: 401 | 403,
                message,
                ..
            } => Self::Unauthorized {
                registry,
                reason: message,
            },
            OciDistributionError::ImageManifestNotFoundError(_)
            | OciDistributionError::ServerError { code: 404, .. } => Self::NotFound {
                name: name.to_owned(),
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let message = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    Self::Unauthorized {
                        registry,
                        reason: message,
                    }
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    Self::NotFound {
                        name: name.to_owned(),
                    }
                } else {
                    Self::Protocol {
                        registry,
                        reason: message,
                    }
                }
            }
            OciDistributionError::DigestError(error) => Self::Corrupt {
                registry,
                what: name.to_owned(),
                reason: error.to_string(),
            },
            other => Self::Protocol {
                registry,
                reason: root_cause(&other),
            },
        }
    }
}

/// The innermost message of an error chain (reqwest's top level says only "error sending
/// request").
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut messages = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        messages.push(inner.to_string());
        source = inner.source();
    }
    messages.dedup();
    messages.join(": ")
}
