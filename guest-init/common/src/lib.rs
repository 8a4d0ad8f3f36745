//! What the host (the engine) and hull-init share besides `hull-protocol`: the rules that
//! turn `-u NAME[:GROUP]` into ids from a container's `/etc/passwd` and `/etc/group`
//! ([`users`]: the host resolves them from the image, hull-init from the running container
//! for `exec -u`), and the initramfs the guest kernel boots hull-init from ([`initramfs`],
//! built on the host). The host does not depend on the guest's PID-1 crate for these.

pub mod initramfs;
pub mod users;

pub use initramfs::{build_initramfs, build_initramfs_from_bytes, is_static_elf, InitramfsError};
