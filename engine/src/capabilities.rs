//! `--cap-add`, `--cap-drop`, `--privileged`: the capabilities of a container's process,
//! computed as Docker does. The VM is the isolation boundary, but inside it they still
//! limit what root in the container may do to the guest kernel (load modules, mount,
//! change the clock, trace other processes, ...).

use hull_protocol::{capability_number, CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES};

/// Docker's word for every capability.
const ALL: &str = "ALL";

/// The container's capability names (without `CAP_`): Docker's defaults adjusted by
/// `drop` then `add` (names with or without `CAP_`, any case, `ALL`), or every capability
/// when `privileged`. An unknown name is refused with Docker's message.
pub fn container_capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<&'static str>, String> {
    let add = normalize(add, "CapAdd")?;
    let drop = normalize(drop, "CapDrop")?;
    if privileged {
        return Ok(CAPABILITIES.to_vec());
    }
    let caps: Vec<&'static str> = if add.contains(&ALL) {
        CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !drop.contains(c))
            .collect()
    } else if drop.contains(&ALL) {
        add
    } else {
        let mut caps: Vec<&'static str> = DOCKER_DEFAULT_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !drop.contains(c))
            .collect();
        for cap in add {
            if !caps.contains(&cap) {
                caps.push(cap);
            }
        }
        caps
    };
    Ok(caps)
}

/// `net_admin`, `CAP_NET_ADMIN` -> `NET_ADMIN`; `all` -> `ALL`.
fn normalize(names: &[String], field: &str) -> Result<Vec<&'static str>, String> {
    names
        .iter()
        .map(|name| {
            if name.eq_ignore_ascii_case(ALL) {
                return Ok(ALL);
            }
            capability_number(name)
                .map(|number| CAPABILITIES[number as usize])
                .ok_or_else(|| {
                    let upper = name.to_ascii_uppercase();
                    let full = if upper.starts_with("CAP_") {
                        upper
                    } else {
                        format!("CAP_{upper}")
                    };
                    format!("invalid {field}: unknown capability: {full:?}")
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hull_protocol::capability_mask;

    fn mask(add: &[&str], drop: &[&str], privileged: bool) -> u64 {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let caps = container_capabilities(&strings(add), &strings(drop), privileged).unwrap();
        capability_mask(caps)
    }

    #[test]
    fn defaults_are_dockers_14() {
        assert_eq!(mask(&[], &[], false), 0xa804_25fb);
    }

    #[test]
    fn add_and_drop_take_names_with_or_without_cap_in_any_case() {
        assert_eq!(
            mask(&["net_admin"], &["CAP_CHOWN"], false),
            0xa804_25fb - 1 + (1 << 12)
        );
        assert_eq!(
            mask(&["CAP_SYS_ADMIN"], &[], false),
            0xa804_25fb | (1 << 21)
        );
    }

    #[test]
    fn all_adds_or_drops_everything() {
        assert_eq!(mask(&["ALL"], &[], false), 0x1ff_ffff_ffff);
        assert_eq!(
            mask(&["ALL"], &["NET_RAW"], false),
            0x1ff_ffff_ffff & !(1 << 13)
        );
        assert_eq!(mask(&[], &["all"], false), 0);
        assert_eq!(mask(&["KILL"], &["ALL"], false), 1 << 5);
        assert_eq!(
            mask(&[], &["ALL"], true),
            0x1ff_ffff_ffff,
            "privileged wins"
        );
    }

    #[test]
    fn unknown_capabilities_are_refused() {
        let error = container_capabilities(&["FLY".into()], &[], false).unwrap_err();
        assert_eq!(error, "invalid CapAdd: unknown capability: \"CAP_FLY\"");
    }
}
