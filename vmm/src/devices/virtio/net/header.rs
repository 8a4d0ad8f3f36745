//! The virtio-net header (virtio 1.2, 5.1.6) at the start of every frame, both ways, and the
//! offloads it can carry: which features we offer, which `TUN_F_*` offloads the tap may
//! then send the guest, and which headers a guest may send.

use virtio_bindings::virtio_net::{
    VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
    VIRTIO_NET_F_GUEST_UFO, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_UFO,
    VIRTIO_NET_F_MAC, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE,
    VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP,
};

use crate::devices::virtio::{VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX};

/// `struct virtio_net_hdr_v1`: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
/// num_buffers. With VIRTIO_F_VERSION_1 (the only mode the transport accepts) the header is
/// always this long, MRG_RXBUF or not.
pub const VNET_HDR_LEN: usize = 12;
/// Offset of `flags`.
const FLAGS: usize = 0;
/// Offset of `gso_type`.
const GSO_TYPE: usize = 1;
/// The one TX header flag that survives (bit 0).
const NEEDS_CSUM: u8 = 1;
const _: () = assert!(NEEDS_CSUM as u32 == VIRTIO_NET_HDR_F_NEEDS_CSUM);
/// Offset of `num_buffers`.
const NUM_BUFFERS: usize = 10;

/// Largest frame either way, header included: a 64 KiB GSO packet plus its Ethernet and
/// VLAN headers (what Firecracker and Linux's "big packets" buffers allow).
pub const MAX_FRAME_LEN: usize = VNET_HDR_LEN + 65550;

/// Features the device offers: Firecracker's set (checksum and TSO4/TSO6/UFO both ways,
/// mergeable RX buffers), the MAC in config space, event-index notification suppression.
pub const OFFERED_FEATURES: u64 = (1 << VIRTIO_F_VERSION_1)
    | (1 << VIRTIO_RING_F_EVENT_IDX)
    | (1 << VIRTIO_NET_F_MAC)
    | (1 << VIRTIO_NET_F_CSUM)
    | (1 << VIRTIO_NET_F_GUEST_CSUM)
    | (1 << VIRTIO_NET_F_GUEST_TSO4)
    | (1 << VIRTIO_NET_F_GUEST_TSO6)
    | (1 << VIRTIO_NET_F_GUEST_UFO)
    | (1 << VIRTIO_NET_F_HOST_TSO4)
    | (1 << VIRTIO_NET_F_HOST_TSO6)
    | (1 << VIRTIO_NET_F_HOST_UFO)
    | (1 << VIRTIO_NET_F_MRG_RXBUF);

fn has(features: u64, bit: u32) -> bool {
    features & (1 << bit) != 0
}

/// Whether the guest takes a frame spread over several RX chains (`num_buffers` > 1).
pub fn mergeable_rx(acked: u64) -> bool {
    has(acked, VIRTIO_NET_F_MRG_RXBUF)
}

/// The `TUN_F_*` offloads the tap may use in frames it hands us for the guest: exactly what
/// the guest accepted. Segmentation offloads need checksum offload (virtio and the tap both
/// require it), so without GUEST_CSUM the tap sends plain, checksummed frames.
pub fn tap_offload(acked: u64) -> u32 {
    if !has(acked, VIRTIO_NET_F_GUEST_CSUM) {
        return 0;
    }
    let mut flags = libc::TUN_F_CSUM;
    for (feature, tun) in [
        (VIRTIO_NET_F_GUEST_TSO4, libc::TUN_F_TSO4),
        (VIRTIO_NET_F_GUEST_TSO6, libc::TUN_F_TSO6),
        (VIRTIO_NET_F_GUEST_UFO, libc::TUN_F_UFO),
    ] {
        if has(acked, feature) {
            flags |= tun;
        }
    }
    flags
}

/// Why a guest frame's header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Shorter than the header.
    #[error("frame shorter than the virtio-net header")]
    Short,
    /// Asks for checksum offload the driver did not negotiate.
    #[error("partial checksum without VIRTIO_NET_F_CSUM")]
    ChecksumNotNegotiated,
    /// A segmentation offload the driver did not negotiate (or an unknown one).
    #[error("GSO type {0:#x} not negotiated")]
    GsoNotNegotiated(u8),
}

/// Checks and cleans the header of a frame the guest sends, in place: it may only ask for
/// offloads it negotiated (the host kernel would otherwise act on them), DATA_VALID is an
/// RX-only flag and is cleared, `num_buffers` is RX-only and zeroed.
pub fn sanitize_tx_header(frame: &mut [u8], acked: u64) -> Result<(), HeaderError> {
    let header = frame.get_mut(..VNET_HDR_LEN).ok_or(HeaderError::Short)?;
    let flags = u32::from(header[FLAGS]);
    if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 && !has(acked, VIRTIO_NET_F_CSUM) {
        return Err(HeaderError::ChecksumNotNegotiated);
    }
    let gso = header[GSO_TYPE];
    let needed = match u32::from(gso) {
        VIRTIO_NET_HDR_GSO_NONE => None,
        VIRTIO_NET_HDR_GSO_TCPV4 => Some(VIRTIO_NET_F_HOST_TSO4),
        VIRTIO_NET_HDR_GSO_TCPV6 => Some(VIRTIO_NET_F_HOST_TSO6),
        VIRTIO_NET_HDR_GSO_UDP => Some(VIRTIO_NET_F_HOST_UFO),
        // ECN (HOST_ECN is not offered), UDP_L4 (HOST_USO is not offered), unknown types.
        _ => return Err(HeaderError::GsoNotNegotiated(gso)),
    };
    if needed.is_some_and(|bit| !has(acked, bit)) {
        return Err(HeaderError::GsoNotNegotiated(gso));
    }
    // Only NEEDS_CSUM survives: DATA_VALID from a guest would make the host skip checksum
    // validation of what the guest sent, RSC_INFO and unknown bits mean nothing on TX.
    header[FLAGS] &= NEEDS_CSUM;
    header[NUM_BUFFERS..VNET_HDR_LEN].fill(0);
    Ok(())
}

/// Writes `num_buffers` into the header of a frame for the guest (the tap leaves those two
/// bytes alone; virtio 1.x requires 1 without MRG_RXBUF).
pub fn set_num_buffers(frame: &mut [u8], count: u16) {
    if let Some(field) = frame.get_mut(NUM_BUFFERS..VNET_HDR_LEN) {
        field.copy_from_slice(&count.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use virtio_bindings::virtio_net::VIRTIO_NET_HDR_F_DATA_VALID;

    use super::*;

    fn header(flags: u8, gso: u8) -> Vec<u8> {
        let mut h = vec![0u8; VNET_HDR_LEN + 4];
        h[FLAGS] = flags;
        h[GSO_TYPE] = gso;
        h[NUM_BUFFERS] = 7;
        h
    }

    #[test]
    fn tap_offloads_follow_what_the_guest_accepted() {
        assert_eq!(tap_offload(0), 0);
        // Segmentation without checksum offload is not something a tap can do.
        assert_eq!(tap_offload(1 << VIRTIO_NET_F_GUEST_TSO4), 0);
        assert_eq!(tap_offload(1 << VIRTIO_NET_F_GUEST_CSUM), libc::TUN_F_CSUM);
        assert_eq!(
            tap_offload(OFFERED_FEATURES),
            libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_UFO
        );
        assert!(mergeable_rx(OFFERED_FEATURES));
        assert!(!mergeable_rx(1 << VIRTIO_F_VERSION_1));
    }

    #[test]
    fn tx_headers_may_only_use_negotiated_offloads() {
        let csum = u8::try_from(VIRTIO_NET_HDR_F_NEEDS_CSUM).unwrap();
        let tso4 = u8::try_from(VIRTIO_NET_HDR_GSO_TCPV4).unwrap();
        // Plain frame: always fine; RX-only fields are cleaned.
        let mut h = header(u8::try_from(VIRTIO_NET_HDR_F_DATA_VALID).unwrap() | 0x80, 0);
        sanitize_tx_header(&mut h, 0).unwrap();
        assert_eq!((h[FLAGS], h[NUM_BUFFERS]), (0, 0));
        // Checksum offload needs CSUM.
        let mut h = header(csum, 0);
        assert_eq!(
            sanitize_tx_header(&mut h, 0),
            Err(HeaderError::ChecksumNotNegotiated)
        );
        sanitize_tx_header(&mut h, 1 << VIRTIO_NET_F_CSUM).unwrap();
        assert_eq!(h[FLAGS], csum);
        // TSO4 needs HOST_TSO4; ECN and unknown types are never accepted.
        let mut h = header(csum, tso4);
        assert_eq!(
            sanitize_tx_header(&mut h, 1 << VIRTIO_NET_F_CSUM),
            Err(HeaderError::GsoNotNegotiated(tso4))
        );
        sanitize_tx_header(&mut h, OFFERED_FEATURES).unwrap();
        for gso in [tso4 | 0x80, 5, 2, 0xff] {
            let mut h = header(csum, gso);
            assert_eq!(
                sanitize_tx_header(&mut h, OFFERED_FEATURES),
                Err(HeaderError::GsoNotNegotiated(gso))
            );
        }
        assert_eq!(
            sanitize_tx_header(&mut [0u8; 11], OFFERED_FEATURES),
            Err(HeaderError::Short)
        );
    }

    #[test]
    fn num_buffers_is_little_endian_at_offset_10() {
        let mut h = header(0, 0);
        set_num_buffers(&mut h, 0x0102);
        assert_eq!(&h[10..12], &[2, 1]);
        set_num_buffers(&mut [0u8; 4], 1); // too short: ignored, no panic
    }
}
