//! Volumes and bind mounts cross the VM boundary as one virtio-fs device per container
//! (tag [`SHARE_TAG`]), served by virtiofsd from a directory whose entries `0`, `1`, ... are
//! the container's shared mounts (Kata's layout: one device, however many volumes, so
//! they do not eat the microvm's few virtio-mmio transports). In the run spec each is an
//! OCI mount of type `bind` whose source is [`share_source`]; hull-init mounts the share
//! once and binds its entries at their destinations.

/// The virtio-fs tag of a container's share.
pub const SHARE_TAG: &str = "hull-share";

/// An OCI mount option hull adds to a volume that takes the image's content at its
/// destination when the volume is empty (Docker's copy-up); hull-init does the copy.
pub const COPY_UP_OPTION: &str = "hull-copy-up";

/// The OCI mount source of share entry `index`.
pub fn share_source(index: usize) -> String {
    format!("{SHARE_TAG}/{index}")
}

/// The entry index an OCI mount source names, if it is a share source.
pub fn parse_share_source(source: &str) -> Option<usize> {
    let index = source.strip_prefix(SHARE_TAG)?.strip_prefix('/')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) || index.len() > 4 {
        return None;
    }
    index.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_sources_round_trip_and_nothing_else_parses() {
        assert_eq!(parse_share_source(&share_source(7)), Some(7));
        for bad in [
            "hull-share",
            "hull-share/",
            "hull-share/../1",
            "/etc",
            "hull-share/1/x",
            "hull-share/99999",
        ] {
            assert_eq!(parse_share_source(bad), None, "{bad}");
        }
    }
}
