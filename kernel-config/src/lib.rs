//! The guest kernel: where it is built, how it is cached, and its command line.
//!
//! * [`ensure_kernel`] gives the vmlinux for a [`KernelProfile`] (building and caching it
//!   with `kernel-config/build.sh` when needed; `HULL_KERNEL` overrides).
//! * [`cmdline::GuestCmdline`] is the one place the guest command line is built.
//! * [`fragment::missing_options`] is the "did every fragment option survive" check.

mod artifacts;
pub mod cmdline;
pub mod fragment;
mod profile;

pub use artifacts::{
    ensure_kernel, kernel_location, ArtifactsError, KernelArtifacts, ENV_CONFIG_DIR, ENV_KERNEL,
};
pub use profile::{KernelProfile, UnknownProfile};
