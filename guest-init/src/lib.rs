//! hull-init, the guest's PID 1, as a library: the guest boot flow ([`guest`]) and the
//! container setup path it shares with the host-side test runner ([`runner`], [`host`]).
//! The user rules and the initramfs format it shares with the host are `hull-guest-common`.
//!
//! In the guest, in order: mount /proc /sys /dev /run ([`guest`]), find disks by serial
//! ([`disks`]), read the `RunSpec`, assemble the overlay root ([`rootfs`]), create the
//! cgroup ([`cgroup`]), fork the container process which joins the cgroup, unshares its
//! namespaces ([`namespaces`]), mounts /proc /dev /sys and pivots ([`container`]), drops
//! privileges and execs ([`process`]); PID 1 relays stdio and control messages
//! ([`relay`]), runs `hull exec` sessions in the container ([`session`]), reaps, writes the
//! `RunResult` and powers off.

/// Writes one diagnostic line on PID 1's stderr (the kernel console, ttyS0, in the
/// guest). Never panics: a panic in PID 1 is a kernel panic.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "hull-init: {}", format_args!($($arg)*));
    }};
}

pub mod archive;
pub mod cgroup;
pub mod changes;
pub mod console;
pub mod container;
pub mod container_init;
pub mod control;
pub mod copy_up;
pub mod disks;
pub mod error;
pub mod guest;
pub mod host;
pub mod memory_guard;
pub mod namespaces;
pub mod net;
pub mod ports;
pub mod process;
pub mod pty;
pub mod rehearsal;
pub mod relay;
pub mod rlimits;
pub mod rootfs;
pub mod runner;
pub mod session;
pub mod spec;
pub mod stats;
pub mod supervisor;
pub mod syscall;
pub mod timeline;
pub mod top;
pub mod volumes;
pub mod warm;

pub use hull_guest_common::{build_initramfs, initramfs, is_static_elf, users, InitramfsError};
