//! hull's registry client: Docker's image names, the OCI distribution protocol (pull with
//! platform choice and resumable verified downloads, push with HEAD checks and
//! cross-repository mounts, login), and Docker-compatible credential files.
//!
//! It moves bytes and checks them; turning a pulled OCI layout into an image (and every
//! hostile-tarball check) is the image store's job, orchestrated by the engine.

mod credentials;
mod download;
mod error;
mod manifest;
mod name;
mod observer;
mod pull;
mod push;
mod session;

pub use credentials::{Credential, CredentialStore};
pub use error::{RegistryError, Result};
pub use manifest::MAX_MANIFEST_BYTES;
pub use name::{auth_key, is_loopback, ImageName, DOCKER_HUB, DOCKER_HUB_AUTH_KEY};
pub use observer::{short_digest, TransferEvent, TransferObserver};
pub use pull::{PullTarget, Pulled};
pub use push::{PushBlob, PushSource, Pushed};
pub use session::{Platform, Session, PARALLEL_TRANSFERS};
