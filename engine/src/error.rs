//! The engine's errors: the refusals a front-end reacts to are their own variants (Docker's
//! wording); anything else (I/O, a VM that would not boot, a corrupt store) is `Internal`
//! with its chain of causes.

use crate::exit::ExitStatus;

/// What went wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container has this id, name or id prefix.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No volume has this name.
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// `volume rm` of a volume containers refer to (its name, their ids).
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    VolumeInUse {
        /// The volume.
        name: String,
        /// The containers' ids.
        users: Vec<String>,
    },
    /// An id prefix that more than one container starts with.
    #[error("multiple containers match {0:?}: give more of the id")]
    AmbiguousContainer(String),
    /// `--name` of another container.
    #[error("the container name {0:?} is already in use: remove it (hull rm {0}) or pick another --name")]
    NameInUse(String),
    /// A `--name` outside Docker's alphabet.
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// `rm` of a running container without force.
    #[error("cannot remove container {0}: container is running: stop the container before removing or force remove (hull rm -f)")]
    RemoveRunning(String),
    /// `kill` of a container that does not run (reference, full id).
    #[error("cannot kill container {0}: container {1} is not running")]
    KillNotRunning(String, String),
    /// `exec` in a container that does not run (its name).
    #[error("container {0} is not running: start it first (hull start {0})")]
    ExecNotRunning(String),
    /// `start --attach` of a container that already runs (its name).
    #[error("container {0} is already running: use hull attach")]
    AlreadyRunning(String),
    /// `attach` to a container that does not run.
    #[error("you cannot attach to a stopped container, start it first")]
    AttachStopped,
    /// `pause` or `top` of a container that does not run (its full id).
    #[error("container {0} is not running")]
    NotRunning(String),
    /// `pause` of a paused container (its full id).
    #[error("container {0} is already paused")]
    AlreadyPaused(String),
    /// `unpause` of a container that is not paused (its full id).
    #[error("container {0} is not paused")]
    NotPaused(String),
    /// `exec` or `top` in a paused container (its full id, the verb).
    #[error("Container {0} is paused, unpause the container before {1}")]
    Paused(String, &'static str),
    /// `attach` to a paused container.
    #[error("You cannot attach to a paused container, unpause it first")]
    AttachPaused,
    /// `cp` of a path the container does not have (Docker's daemon wording: the path and
    /// the container as the user gave them).
    #[error("Could not find the file {path} in container {container}")]
    CopyNotFound {
        /// The path in the container.
        path: String,
        /// The container reference.
        container: String,
    },
    /// `cp` refused or failed, in Docker's words.
    #[error("{0}")]
    Copy(String),
    /// An image that is neither stored nor one hull can make offline.
    #[error("No such image: {0} (--pull never: pull it first with hull pull {0}, or load it with hull load -i FILE)")]
    NoSuchImage(String),
    /// `push` of a name no stored image has (Docker's words).
    #[error("An image does not exist locally with the tag: {0}")]
    NotTaggedLocally(String),
    /// `image bootstrap` of something that is not a base image.
    #[error("{0} is not a base image: hull can bootstrap busybox, debian:bookworm and scratch")]
    NotABaseImage(String),
    /// The image store refused (unknown image, image in use, bad archive, ...).
    /// A flag value Docker would refuse (its message).
    #[error("{0}")]
    InvalidArgument(String),
    /// `hull build` failed: a Dockerfile or context error, or a step that failed.
    #[error("{0}")]
    Build(String),
    #[error(transparent)]
    Image(#[from] hull_rootfs::StoreError),
    /// A pull, push or login failed (unreachable, unauthorized, not found, corrupt).
    #[error(transparent)]
    Registry(#[from] hull_registry::RegistryError),
    /// A network refused or failed (Docker's wording where Docker has the same failure).
    #[error(transparent)]
    Network(#[from] hull_network::Error),
    /// Anything else, with its causes in the message (`{:#}`), so a front-end prints it once.
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        // An engine error that went through anyhow comes back as itself.
        match err.downcast::<Error>() {
            Ok(engine) => engine,
            Err(other) => Error::Internal(other),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Internal(err.into())
    }
}

impl Error {
    /// The status hull must end with, when the error carries one (a VM that ended without
    /// reporting the container's status is 125 with its logs as the message).
    pub fn exit_status(&self) -> Option<&ExitStatus> {
        match self {
            Error::Internal(inner) => inner.downcast_ref::<ExitStatus>(),
            _ => None,
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
