//! hull's engine: the container and image use cases under every front-end (the `hull` CLI
//! today, an API server later). It owns the container store, the images, the per-container
//! supervisor and the VM engines (hull-vmm, QEMU) behind one trait; its API takes typed
//! requests and returns typed results and [`Error`]s, and it never prints or exits.
//!
//! - [`containers::Containers`]: create, start, attach, exec, wait, stop, kill, rm, inspect,
//!   list, logs.
//! - [`images::Images`]: resolve, load, save, tag, rmi, history, prune, inspect, bootstrap.
//! - [`build`]: `hull build`, a Dockerfile's steps run in build VMs.
//! - [`networks::Networks`]: network create, ls, inspect, rm, prune (the host side lives
//!   in the `hull-network` crate).
//! - [`volumes::Volumes`]: volume create, ls, inspect, rm, prune, and the mounts
//!   (`-v`, `--mount`, `--tmpfs`) a container is created with.
//! - [`vm`]: the [`vm::Engine`] trait, its QEMU and hull-vmm implementations, and
//!   [`vm::Engines`], where a supervisor gets them (a fake in tests).
//! - [`supervisor`]: boots one container's VM and serves its control socket
//!   ([`supervisor::wire`] is that socket's format).

pub mod build;
pub mod capabilities;
pub mod container;
pub mod containers;
pub mod error;
pub mod exit;
pub mod extra_hosts;
pub mod guest;
pub mod host;
pub mod images;
pub mod networks;
pub mod spec;
pub mod supervisor;
pub mod system;
pub mod users;
pub mod vm;
pub mod volumes;

pub use containers::Containers;
pub use error::{Error, Result};
pub use images::Images;
pub use networks::Networks;
pub use volumes::Volumes;
