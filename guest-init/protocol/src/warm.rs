//! Warm start: the contract between a restored VM and hull-init.
//!
//! A *zygote* is a VM booted with [`WARM_BOOT_PARAM`] on its command line, placeholder disks
//! (sparse files of zeros, as large as any real disk) in every disk slot and, when it has a
//! NIC, [`ZYGOTE_MAC`]. Its hull-init
//! mounts the basics, opens the control console, sends [`crate::GuestEvent::Parked`] and
//! waits. The host then saves the VM (QEMU's migration stream, or hull-vmm's snapshot) and
//! throws the zygote away.
//!
//! Every container started warm is a restore of that VM with the container's own disks and
//! consoles in the same slots. The first line the host writes on the control console is a
//! [`crate::ControlMessage::Resume`]; before anything of the container runs, hull-init
//! - sets the wall clock from it (the zygote's clock stopped when it was saved),
//! - mixes its entropy into the kernel's pool and forces a reseed of the CRNG, so no two
//!   containers restored from one zygote share random state,
//! - drops every disk's cached blocks (BLKFLSBUF): the zygote's kernel read the first blocks
//!   of the placeholders when it probed them. A disk's recorded size stays the
//!   placeholder's: file systems read within their own bounds,
//! - answers [`crate::GuestEvent::Resumed`], then goes on as a cold boot does: finds the
//!   disks by serial, reads the run spec, ...
//!
//! The NIC's address is still the zygote's after the restore; hull-init gives it the
//! container's MAC from the spec before it looks for the interface by MAC.
//!
//! A *warm-pool* VM is a restore whose resume says `rehearse`: hull-init runs the spec on
//! the config disk (the host's stand-in container) as it would a container's, unmounts
//! everything the run mounted and returns PID 1 to its own pid namespace, sends
//! [`crate::GuestEvent::Parked`] again and waits. It then gets a container as any restore
//! does: the host moves the disk slots to the container's files and sends a plain resume
//! (new clock, new entropy, caches dropped). A rehearsal that fails, or cannot unmount
//! what it mounted, powers the VM off: no file system of the stand-in outlives it.

/// The kernel command line parameter that makes hull-init park for a snapshot.
pub const WARM_BOOT_PARAM: &str = "hull.warm=park";

/// The MAC of a zygote's NIC, replaced by the container's own after a restore
/// (locally administered: `68:75:6c:6c` is "hull").
pub const ZYGOTE_MAC: &str = "02:68:75:6c:6c:00";

/// Bytes of host entropy a [`crate::ControlMessage::Resume`] carries.
pub const RESUME_ENTROPY_BYTES: usize = 64;

/// The serial of an unused layer slot of a restored VM (its disk is an empty file): not a
/// layer, so hull-init never mounts it.
pub fn spare_disk_serial(index: usize) -> String {
    format!("hull-spare-{index}")
}

/// Whether the kernel command line `cmdline` asks hull-init to park for a snapshot.
pub fn parks_for_snapshot(cmdline: &str) -> bool {
    cmdline
        .split_ascii_whitespace()
        .any(|word| word == WARM_BOOT_PARAM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Base64, ControlMessage, GuestEvent};

    #[test]
    fn only_the_whole_parameter_parks() {
        assert!(parks_for_snapshot("console=ttyS0 hull.warm=park quiet"));
        assert!(!parks_for_snapshot("console=ttyS0 quiet"));
        assert!(!parks_for_snapshot("hull.warm=parked"));
    }

    #[test]
    fn resume_and_the_hand_over_events_are_one_line_each() {
        let resume = ControlMessage::Resume {
            realtime_ns: 1_700_000_000_123_456_789,
            entropy: Base64(vec![7; RESUME_ENTROPY_BYTES]),
            rehearse: false,
            park_idle_s: 0,
        };
        let line = resume.to_line();
        // A plain resume is the line it was before warm pools (no `rehearse` field).
        assert!(
            !line.contains("rehearse") && !line.contains("park_idle"),
            "{line}"
        );
        let pool = ControlMessage::Resume {
            realtime_ns: 1,
            entropy: Base64(vec![1; RESUME_ENTROPY_BYTES]),
            rehearse: true,
            park_idle_s: 600,
        };
        assert_eq!(
            serde_json::from_str::<ControlMessage>(&pool.to_line()).unwrap(),
            pool
        );
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        assert_eq!(
            serde_json::from_str::<ControlMessage>(&line).unwrap(),
            resume
        );
        for event in [GuestEvent::Parked, GuestEvent::Resumed] {
            assert_eq!(
                GuestEvent::parse_line(event.to_line().as_bytes()),
                Some(event)
            );
        }
    }

    #[test]
    fn spare_slots_are_not_layers() {
        assert!(!spare_disk_serial(0).starts_with(crate::LAYER_DISK_SERIAL_PREFIX));
    }
}
