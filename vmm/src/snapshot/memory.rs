//! Guest RAM as a snapshot's memory file: the regions back to back (the same layout as the
//! shared memfd of `memory.rs`), zero pages left as holes so the file costs only what the
//! guest used. A restore maps the file MAP_PRIVATE: pages are read from the page cache on
//! first touch and copied only when the guest writes them, so a restore costs the same for
//! 64 MiB or 64 GiB, and every VM restored from one file shares its unchanged pages.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use vm_memory::{FileOffset, GuestMemoryBackend, GuestMemoryRegion, GuestRegionMmap};

use vm_memory::mmap::MmapRegionBuilder;

use crate::memory::{ram_ranges, GuestMemory};

/// The unit zero pages are detected (and holes left) in.
const PAGE: usize = 4096;
/// Bytes written per pwrite: runs of non-zero pages are merged up to this size.
const MAX_WRITE: usize = 1 << 20;

/// Errors writing or mapping a memory file.
#[derive(Debug, thiserror::Error)]
pub enum MemoryFileError {
    /// The file could not be created, written, opened or sized.
    #[error("cannot {op} the memory file {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The file's size is not the guest RAM size the state file records.
    #[error("the memory file {path} holds {found} bytes, the snapshot's guest RAM is {expected}: the snapshot is incomplete or mixed with another one")]
    Size {
        /// The file.
        path: std::path::PathBuf,
        /// Its size.
        found: u64,
        /// The RAM size.
        expected: u64,
    },
    /// mmap refused the file.
    #[error("cannot map the memory file {path}")]
    Mmap {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        #[source]
        source: vm_memory::mmap::MmapRegionError,
    },
    /// The region layout is invalid (a hull-vmm bug).
    #[error("invalid guest memory layout from the memory file")]
    Layout(#[source] vm_memory::GuestRegionCollectionError),
}

/// Writes every region of `memory` into a new file at `path` (which must not exist),
/// leaving all-zero pages as holes.
pub fn write_memory_file(memory: &GuestMemory, path: &Path) -> Result<(), MemoryFileError> {
    let io_err = |op| {
        move |source| MemoryFileError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create"))?;
    let mut file_offset = 0u64;
    for region in memory.iter() {
        let len = usize::try_from(region.len()).unwrap_or(usize::MAX);
        // SAFETY: the region maps `len` bytes for as long as `memory` lives; the vCPUs are
        // paused, so nothing writes them while they are read here (and a racing write could
        // only change which bytes are copied, not make the read unsound for plain bytes).
        let bytes = unsafe { std::slice::from_raw_parts(region.as_ptr().cast_const(), len) };
        write_sparse(&file, bytes, file_offset).map_err(io_err("write"))?;
        file_offset += region.len();
    }
    // The holes at the end still count: the file is as long as guest RAM.
    file.set_len(file_offset).map_err(io_err("size"))?;
    file.sync_all().map_err(io_err("sync"))
}

/// Writes the non-zero pages of `bytes` at `base` in `file`, merged into runs.
fn write_sparse(file: &File, bytes: &[u8], base: u64) -> io::Result<()> {
    let mut run_start: Option<usize> = None;
    let mut offset = 0;
    while offset <= bytes.len() {
        let page = bytes.get(offset..(offset + PAGE).min(bytes.len()));
        let data = page.is_some_and(|p| !p.is_empty() && p.iter().any(|b| *b != 0));
        let flush = match run_start {
            Some(start) => !data || offset - start >= MAX_WRITE,
            None => false,
        };
        if flush {
            if let Some(start) = run_start.take() {
                file.write_all_at(&bytes[start..offset], base + start as u64)?;
            }
        }
        if data && run_start.is_none() {
            run_start = Some(offset);
        }
        offset += PAGE;
    }
    Ok(())
}

/// Guest RAM of `mem_size` bytes mapped privately (copy-on-write) from the memory file.
pub fn map_memory_file(path: &Path, mem_size: u64) -> Result<GuestMemory, MemoryFileError> {
    let file = File::open(path).map_err(|source| MemoryFileError::Io {
        op: "open",
        path: path.to_path_buf(),
        source,
    })?;
    let found = file
        .metadata()
        .map_err(|source| MemoryFileError::Io {
            op: "inspect",
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if found != mem_size {
        return Err(MemoryFileError::Size {
            path: path.to_path_buf(),
            found,
            expected: mem_size,
        });
    }
    let file = Arc::new(file);
    let mut regions = Vec::new();
    let mut file_start = 0u64;
    for (start, len) in ram_ranges(mem_size) {
        let offset = FileOffset::from_arc(Arc::clone(&file), file_start);
        file_start += len;
        let mmap_err = |source| MemoryFileError::Mmap {
            path: path.to_path_buf(),
            source,
        };
        let len = usize::try_from(len)
            .map_err(|_| mmap_err(vm_memory::mmap::MmapRegionError::InvalidPointer))?;
        // MAP_PRIVATE: guest writes go to anonymous copies, never to the file, which other
        // VMs map too. MAP_NORESERVE as for fresh guest RAM.
        let mapping = MmapRegionBuilder::new(len)
            .with_file_offset(offset)
            .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
            .with_mmap_flags(libc::MAP_PRIVATE | libc::MAP_NORESERVE)
            .build()
            .map_err(mmap_err)?;
        // SAFETY: the range is exactly the mapping just created; MADV_DONTFORK only changes
        // what a fork copies (see `memory.rs`). Failure is harmless.
        unsafe {
            libc::madvise(mapping.as_ptr().cast(), len, libc::MADV_DONTFORK);
        }
        let region = GuestRegionMmap::new(mapping, start).ok_or(MemoryFileError::Size {
            path: path.to_path_buf(),
            found,
            expected: mem_size,
        })?;
        regions.push(region);
    }
    GuestMemory::from_regions(regions).map_err(MemoryFileError::Layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::create_guest_memory;
    use vm_memory::{Bytes, GuestAddress};

    fn temp(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("hull-snapmem-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn memory_round_trips_through_a_sparse_private_file() {
        let size = 8u64 << 20;
        let mem = create_guest_memory(size, false).unwrap();
        mem.write_obj(0x1122_3344u32, GuestAddress(0x1000)).unwrap();
        mem.write_obj(0xffu8, GuestAddress(size - 1)).unwrap();
        let path = temp("roundtrip");
        write_memory_file(&mem, &path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), size);
        use std::os::unix::fs::MetadataExt;
        assert!(
            meta.blocks() * 512 < 64 * 1024,
            "zero pages are holes ({} blocks)",
            meta.blocks()
        );

        let restored = map_memory_file(&path, size).unwrap();
        assert_eq!(
            restored.read_obj::<u32>(GuestAddress(0x1000)).unwrap(),
            0x1122_3344
        );
        assert_eq!(
            restored.read_obj::<u8>(GuestAddress(size - 1)).unwrap(),
            0xff
        );
        // A guest write stays in the VM: the file (shared by other VMs) is unchanged.
        restored.write_obj(0xdeadu32, GuestAddress(0x1000)).unwrap();
        let mut word = [0u8; 4];
        File::open(&path)
            .unwrap()
            .read_exact_at(&mut word, 0x1000)
            .unwrap();
        assert_eq!(u32::from_le_bytes(word), 0x1122_3344);
        // Dropping the private copy (as the balloon does) brings back the file's page.
        let host = restored.get_host_address(GuestAddress(0)).unwrap();
        // SAFETY: `host` is the page-aligned start of a live 8 MiB private mapping.
        unsafe { libc::madvise(host.cast(), 8192, libc::MADV_DONTNEED) };
        assert_eq!(
            restored.read_obj::<u32>(GuestAddress(0x1000)).unwrap(),
            0x1122_3344
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_memory_file_of_the_wrong_size_or_an_existing_target_is_refused() {
        let path = temp("size");
        std::fs::write(&path, [0u8; 4096]).unwrap();
        let err = map_memory_file(&path, 8 << 20).unwrap_err();
        assert!(err.to_string().contains("4096 bytes"), "{err}");
        let mem = create_guest_memory(1 << 20, false).unwrap();
        assert!(write_memory_file(&mem, &path).is_err(), "never overwrites");
        let _ = std::fs::remove_file(&path);
    }
}
