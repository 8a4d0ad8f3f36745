//! One guest buffer as one host slice, resolved with a single region lookup.
//!
//! vm-memory's `Bytes` methods on a `GuestMemory` build a region-crossing slice iterator for
//! every access. A virtio-blk request touches guest memory about a dozen times, and that
//! generic path was most of the gap between the request path and a bare `pread`. A buffer
//! that lies inside one plain RAM region (practically every buffer) is resolved here
//! directly; anything else (a buffer crossing regions, memory behind an IOMMU, an address
//! outside guest memory) gives `None`, and the caller takes the general path, which also
//! reports the precise error.

use vm_memory::bitmap::MS;
use vm_memory::{GuestAddress, GuestMemory, GuestMemoryBackend, VolatileSlice};

/// A host view of guest memory returned by [`host_slice`].
pub(crate) type HostSlice<'m, M> = VolatileSlice<'m, MS<'m, <M as GuestMemory>::PhysicalMemory>>;

/// `len` bytes of guest memory at `addr` as one host slice, when they lie inside one region
/// of plain (non-IOMMU) guest memory. The slice is bounds-checked against that region.
pub(crate) fn host_slice<M: GuestMemory>(
    mem: &M,
    addr: GuestAddress,
    len: usize,
) -> Option<HostSlice<'_, M>> {
    mem.physical_memory()?.get_slice(addr, len).ok()
}

#[cfg(test)]
mod tests {
    use vm_memory::{Bytes, GuestMemoryMmap};

    use super::*;

    #[test]
    fn resolves_buffers_inside_one_region_only() {
        let mem: GuestMemoryMmap<()> = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x1000),
            (GuestAddress(0x1000), 0x1000),
            (GuestAddress(0x4000), 0x1000),
        ])
        .unwrap();
        mem.write_obj(0xabu8, GuestAddress(0x1ff0)).unwrap();
        let slice = host_slice(&mem, GuestAddress(0x1ff0), 16).unwrap();
        assert_eq!(slice.len(), 16);
        assert_eq!(slice.read_obj::<u8>(0).unwrap(), 0xab);
        // Crossing into the next region (contiguous or not), a hole, past the end, overflow.
        assert!(host_slice(&mem, GuestAddress(0xff0), 32).is_none());
        assert!(host_slice(&mem, GuestAddress(0x1ff0), 32).is_none());
        assert!(host_slice(&mem, GuestAddress(0x2000), 1).is_none());
        assert!(host_slice(&mem, GuestAddress(0x4ff0), 17).is_none());
        assert!(host_slice(&mem, GuestAddress(u64::MAX), 2).is_none());
        assert!(host_slice(&mem, GuestAddress(0x4000), usize::MAX).is_none());
    }
}
