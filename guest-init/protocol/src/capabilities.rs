//! Linux capabilities by number, shared by the host (which computes a container's set from
//! `--cap-add`/`--cap-drop`/`--privileged`) and the guest (which turns the spec's names
//! into the bounding-set bits it keeps).

/// Capability names without `CAP_`, indexed by their kernel number (0 = CHOWN ..
/// 40 = CHECKPOINT_RESTORE): Docker's "ALL" is this list.
pub const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default capabilities of a container process (CapEff 00000000a80425fb).
pub const DOCKER_DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// The kernel number of capability `name` (with or without `CAP_`, any case).
pub fn capability_number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAPABILITIES
        .iter()
        .position(|known| *known == bare)
        .and_then(|index| u32::try_from(index).ok())
}

/// The bit mask of `names` (unknown names are ignored), as /proc/PID/status shows it.
pub fn capability_mask<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    names
        .into_iter()
        .filter_map(capability_number)
        .fold(0, |mask, number| mask | (1 << number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_defaults_are_its_capeff() {
        assert_eq!(
            capability_mask(DOCKER_DEFAULT_CAPABILITIES.iter().copied()),
            0xa804_25fb
        );
        assert_eq!(
            capability_mask(CAPABILITIES.iter().copied()),
            0x1ff_ffff_ffff
        );
    }

    #[test]
    fn names_take_any_case_with_or_without_the_prefix() {
        assert_eq!(capability_number("CAP_NET_ADMIN"), Some(12));
        assert_eq!(capability_number("net_admin"), Some(12));
        assert_eq!(capability_number("checkpoint_restore"), Some(40));
        assert_eq!(capability_number("CAP_NOPE"), None);
    }
}
