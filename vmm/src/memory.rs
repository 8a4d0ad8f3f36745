//! Guest RAM: MAP_NORESERVE mappings (the host commits pages only when the guest touches
//! them), split around the 32-bit MMIO hole. Anonymous and private, unless a vhost-user
//! device needs to map it too: then one memfd, mapped shared, whose fd goes to the backend.

use std::fs::File;
use std::os::fd::FromRawFd;
use vm_memory::{FileOffset, GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion};

/// Guest RAM as the VMM and its devices share it.
pub type GuestMemory = GuestMemoryMmap;

use crate::arch::x86_64::layout::{MMIO_HOLE_START, RAM_ABOVE_HOLE_START};

/// Errors creating guest memory.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The size is zero, not a whole page count, or does not fit the host's address space.
    #[error("guest memory size {0} bytes is unusable: give a whole number of MiB, at least 1")]
    BadSize(u64),
    /// mmap failed.
    #[error("cannot map {size} bytes of guest memory (host out of address space?)")]
    Mmap {
        /// Region size.
        size: usize,
        /// The failure.
        #[source]
        source: vm_memory::mmap::MmapRegionError,
    },
    /// memfd_create or ftruncate failed (shared memory for a vhost-user device).
    #[error("cannot create {size} bytes of shareable guest memory (memfd)")]
    Memfd {
        /// Total size.
        size: u64,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// vm-memory refused the region layout (overlap: a bug in `ram_ranges`).
    #[error("invalid guest memory layout")]
    Layout(#[source] vm_memory::GuestRegionCollectionError),
}

/// The guest-physical RAM ranges for `size` bytes of RAM: below the MMIO hole, and the rest
/// from 4 GiB up.
pub fn ram_ranges(size: u64) -> Vec<(GuestAddress, u64)> {
    let below = size.min(MMIO_HOLE_START.0);
    let mut ranges = vec![(GuestAddress(0), below)];
    if size > below {
        ranges.push((RAM_ABOVE_HOLE_START, size - below));
    }
    ranges
}

/// A memfd of `size` bytes (sparse: pages are allocated as the guest touches them).
fn guest_memfd(size: u64) -> Result<File, MemoryError> {
    let memfd_error = |source| MemoryError::Memfd { size, source };
    // SAFETY: memfd_create with a NUL-terminated name; the fd is checked before use.
    let fd = unsafe { libc::memfd_create(c"hull-guest-ram".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(memfd_error(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(size).map_err(memfd_error)?;
    Ok(file)
}

/// Maps `size` bytes of guest RAM (a multiple of 4 KiB); `shared` when a vhost-user device
/// maps it as well (every region then has a file offset in one memfd).
pub fn create_guest_memory(size: u64, shared: bool) -> Result<GuestMemoryMmap, MemoryError> {
    if size == 0 || !size.is_multiple_of(4096) {
        return Err(MemoryError::BadSize(size));
    }
    let memfd = if shared {
        Some(std::sync::Arc::new(guest_memfd(size)?))
    } else {
        None
    };
    let mut regions = Vec::new();
    let mut file_start = 0u64;
    for (start, len) in ram_ranges(size) {
        let file_offset = memfd
            .as_ref()
            .map(|file| FileOffset::from_arc(std::sync::Arc::clone(file), file_start));
        file_start += len;
        let len = usize::try_from(len).map_err(|_| MemoryError::BadSize(size))?;
        // MmapRegion::new maps anonymous, private, MAP_NORESERVE memory; from_file maps
        // the memfd shared, MAP_NORESERVE.
        let mapping = match file_offset {
            Some(offset) => MmapRegion::from_file(offset, len),
            None => MmapRegion::new(len),
        }
        .map_err(|source| MemoryError::Mmap { size: len, source })?;
        // `None` only when start + len overflows, which `ram_ranges` rules out for any
        // size that fits in usize.
        // Guest RAM never belongs in a forked child (see `teardown`): without this, fork
        // would copy the page tables of every page the guest touched.
        // SAFETY: the range is exactly the mapping just created; madvise only changes
        // fork behaviour and cannot invalidate it. Failure is harmless (slower fork).
        unsafe {
            libc::madvise(mapping.as_ptr().cast(), len, libc::MADV_DONTFORK);
        }
        let region = GuestRegionMmap::new(mapping, start).ok_or(MemoryError::BadSize(size))?;
        regions.push(region);
    }
    GuestMemoryMmap::from_regions(regions).map_err(MemoryError::Layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{Bytes, GuestMemoryBackend, GuestMemoryRegion};

    #[test]
    fn small_memory_is_one_region_from_zero() {
        assert_eq!(ram_ranges(128 << 20), vec![(GuestAddress(0), 128 << 20)]);
    }

    #[test]
    fn large_memory_skips_the_mmio_hole() {
        let size = 4u64 << 30;
        let ranges = ram_ranges(size);
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges[0], (GuestAddress(0), MMIO_HOLE_START.0));
        assert_eq!(ranges[1].0, RAM_ABOVE_HOLE_START);
        assert_eq!(ranges[0].1 + ranges[1].1, size);
    }

    #[test]
    fn guest_memory_is_usable_and_rejects_odd_sizes() {
        let mem = create_guest_memory(2 << 20, false).unwrap();
        assert_eq!(mem.num_regions(), 1);
        assert_eq!(mem.iter().next().unwrap().len(), 2 << 20);
        mem.write_obj(0xdead_beefu32, GuestAddress(0x1000)).unwrap();
        assert_eq!(
            mem.read_obj::<u32>(GuestAddress(0x1000)).unwrap(),
            0xdead_beef
        );
        assert!(mem.read_obj::<u32>(GuestAddress(2 << 20)).is_err());
        assert!(create_guest_memory(0, false).is_err());
        assert!(create_guest_memory(4095, true).is_err());
    }

    #[test]
    fn shared_memory_is_one_memfd_the_regions_share_at_their_offsets() {
        let size = 4u64 << 30;
        let mem = create_guest_memory(size, true).unwrap();
        let offsets: Vec<u64> = mem
            .iter()
            .map(|region| region.file_offset().expect("a file offset").start())
            .collect();
        assert_eq!(offsets, vec![0, MMIO_HOLE_START.0]);
        let first = mem.iter().next().unwrap().file_offset().unwrap().file();
        assert_eq!(first.metadata().unwrap().len(), size);
        // What the guest writes is in the file, where a vhost-user backend reads it.
        mem.write_obj(0x1234_5678u32, GuestAddress(0x2000)).unwrap();
        let mut bytes = [0u8; 4];
        std::os::unix::fs::FileExt::read_exact_at(first, &mut bytes, 0x2000).unwrap();
        assert_eq!(u32::from_le_bytes(bytes), 0x1234_5678);
    }
}
