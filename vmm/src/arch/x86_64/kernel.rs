//! Loading the kernel (ELF vmlinux or bzImage) and the initrd into guest memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use linux_loader::loader::bootparam::setup_header;
use linux_loader::loader::{BzImage, Elf, KernelLoader, PvhBootCapability};
use vm_memory::{Address, Bytes, GuestAddress, GuestMemoryMmap};

use super::layout::{HIMEM_START, MMIO_HOLE_START};

/// Offset of the 64-bit entry point (`startup_64`) in a loaded bzImage's protected-mode part.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;
/// Highest address an initrd may end at for kernels that do not say (`initrd_addr_max`
/// of the 2.03 boot protocol).
const DEFAULT_INITRD_ADDR_MAX: u64 = 0x37ff_ffff;

/// Errors loading the kernel or initrd.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: check the path and its permissions")]
    Open {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is neither an ELF vmlinux nor a bzImage.
    #[error(
        "{path} is not a kernel hull-vmm can boot: give an x86_64 ELF vmlinux (with or \
         without a PVH note) or a bzImage"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// linux-loader rejected the image (corrupt, or does not fit in guest memory).
    #[error("cannot load kernel {path} ({source}): is it an x86_64 kernel, and is --mem-mib large enough?")]
    Load {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: linux_loader::loader::Error,
    },
    /// The initrd does not fit between the kernel and the top of low memory.
    #[error("initrd {path} ({size} bytes) does not fit in guest memory: raise --mem-mib")]
    InitrdTooBig {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Copying the initrd into guest memory failed.
    #[error("cannot copy initrd {path} into guest memory")]
    InitrdCopy {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: vm_memory::GuestMemoryError,
    },
}

/// How the loaded kernel wants to be entered.
#[derive(Debug, Clone, Copy)]
pub enum KernelEntry {
    /// 64-bit Linux boot protocol at this address.
    Linux64(GuestAddress),
    /// PVH entry (32-bit, from the ELF's Xen PHYS32_ENTRY note).
    Pvh(GuestAddress),
}

/// A kernel in guest memory.
#[derive(Debug, Clone, Copy)]
pub struct LoadedKernel {
    /// Entry point and protocol.
    pub entry: KernelEntry,
    /// First byte after the kernel image (the initrd must stay above).
    pub end: u64,
    /// The bzImage setup header, to copy into the zero page.
    pub setup_header: Option<setup_header>,
}

/// Loads an ELF vmlinux (PVH entry when it has the note) or a bzImage.
pub fn load_kernel(mem: &GuestMemoryMmap, path: &Path) -> Result<LoadedKernel, KernelError> {
    let open_err = |source| KernelError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(open_err)?;
    let load_err = |source| KernelError::Load {
        path: path.to_path_buf(),
        source,
    };
    if magic == *b"\x7fELF" {
        let result = Elf::load(mem, None, &mut file, Some(HIMEM_START)).map_err(load_err)?;
        let entry = match result.pvh_boot_cap {
            PvhBootCapability::PvhEntryPresent(addr) => KernelEntry::Pvh(addr),
            _ => KernelEntry::Linux64(result.kernel_load),
        };
        return Ok(LoadedKernel {
            entry,
            end: result.kernel_end,
            setup_header: None,
        });
    }
    let mut hdrs = [0u8; 4];
    file.seek(SeekFrom::Start(0x202)).map_err(open_err)?;
    if file.read_exact(&mut hdrs).is_ok() && hdrs == *b"HdrS" {
        let result = BzImage::load(mem, None, &mut file, Some(HIMEM_START)).map_err(load_err)?;
        return Ok(LoadedKernel {
            entry: KernelEntry::Linux64(
                result.kernel_load.unchecked_add(BZIMAGE_64BIT_ENTRY_OFFSET),
            ),
            end: result.kernel_end,
            setup_header: result.setup_header,
        });
    }
    Err(KernelError::UnknownFormat {
        path: path.to_path_buf(),
    })
}

/// Copies the initrd to the highest page-aligned address below both the top of low RAM
/// and the kernel's `initrd_addr_max`, above the kernel. Returns its address and size.
pub fn load_initrd(
    mem: &GuestMemoryMmap,
    path: &Path,
    kernel: &LoadedKernel,
    ram_size: u64,
) -> Result<(GuestAddress, u64), KernelError> {
    let open_err = |source| KernelError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let size = file.metadata().map_err(open_err)?.len();
    let addr_max = kernel
        .setup_header
        .map(|h| u64::from(h.initrd_addr_max))
        .filter(|max| *max != 0)
        .unwrap_or(DEFAULT_INITRD_ADDR_MAX);
    let top = ram_size.min(MMIO_HOLE_START.0).min(addr_max + 1);
    let too_big = || KernelError::InitrdTooBig {
        path: path.to_path_buf(),
        size,
    };
    let start = top.checked_sub(size).ok_or_else(too_big)? & !0xfff;
    if start < kernel.end {
        return Err(too_big());
    }
    let len = usize::try_from(size).map_err(|_| too_big())?;
    mem.read_exact_volatile_from(GuestAddress(start), &mut file, len)
        .map_err(|source| KernelError::InitrdCopy {
            path: path.to_path_buf(),
            source,
        })?;
    Ok((GuestAddress(start), size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::create_guest_memory;
    use std::io::Write;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("hull-vmm-{}-{name}", std::process::id()));
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    #[test]
    fn garbage_kernel_is_a_clear_error() {
        let mem = create_guest_memory(16 << 20, false).unwrap();
        let path = temp_file("garbage", &[0x55; 4096]);
        let err = load_kernel(&mem, &path).unwrap_err();
        assert!(matches!(err, KernelError::UnknownFormat { .. }), "{err}");
        let short = temp_file("short", b"\x7fEL");
        assert!(matches!(
            load_kernel(&mem, &short),
            Err(KernelError::Open { .. })
        ));
        let bad_elf = temp_file("badelf", &[b"\x7fELF".as_slice(), &[0xff; 60]].concat());
        assert!(matches!(
            load_kernel(&mem, &bad_elf),
            Err(KernelError::Load { .. })
        ));
        let missing = load_kernel(&mem, Path::new("/nonexistent/vmlinux")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/vmlinux"));
        for p in [path, short, bad_elf] {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn initrd_goes_to_the_top_of_low_memory() {
        let mem = create_guest_memory(16 << 20, false).unwrap();
        let path = temp_file("initrd", &[0xab; 5000]);
        let kernel = LoadedKernel {
            entry: KernelEntry::Linux64(HIMEM_START),
            end: 0x20_0000,
            setup_header: None,
        };
        let (addr, size) = load_initrd(&mem, &path, &kernel, 16 << 20).unwrap();
        assert_eq!(size, 5000);
        assert_eq!(addr.0 % 4096, 0);
        assert!(addr.0 + size <= 16 << 20);
        assert_eq!(mem.read_obj::<u8>(addr).unwrap(), 0xab);
        let small = LoadedKernel {
            end: 0xff_f000,
            ..kernel
        };
        assert!(matches!(
            load_initrd(&mem, &path, &small, 16 << 20),
            Err(KernelError::InitrdTooBig { .. })
        ));
        std::fs::remove_file(path).unwrap();
    }

    /// An ELF64 header plus one PT_LOAD program header (no payload beyond `extra`).
    fn elf_with_load(paddr: u64, filesz: u64, extra: &[u8]) -> Vec<u8> {
        let mut out = b"\x7fELF".to_vec();
        out.extend_from_slice(&[2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&0x3eu16.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&HIMEM_START.0.to_le_bytes()); // e_entry
        out.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        out.extend_from_slice(&[0; 12]); // e_shoff, e_flags
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&56u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        out.extend_from_slice(&7u32.to_le_bytes());
        out.extend_from_slice(&120u64.to_le_bytes()); // p_offset
        out.extend_from_slice(&paddr.to_le_bytes());
        out.extend_from_slice(&paddr.to_le_bytes());
        out.extend_from_slice(&filesz.to_le_bytes());
        out.extend_from_slice(&filesz.to_le_bytes());
        out.extend_from_slice(&4u64.to_le_bytes());
        out.extend_from_slice(extra);
        out
    }

    #[test]
    fn hostile_kernel_images_are_errors_not_panics() {
        let mem = create_guest_memory(4 << 20, false).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("ok", elf_with_load(HIMEM_START.0, 4, &[0x90; 4])),
            ("past-ram", elf_with_load(64 << 20, 4, &[0x90; 4])),
            ("wrapping", elf_with_load(u64::MAX - 1, 4, &[0x90; 4])),
            (
                "short-file",
                elf_with_load(HIMEM_START.0, 1 << 20, &[0x90; 4]),
            ),
            ("huge-filesz", elf_with_load(HIMEM_START.0, u64::MAX, &[])),
        ];
        for (name, bytes) in cases {
            let path = temp_file(name, &bytes);
            let result = load_kernel(&mem, &path);
            std::fs::remove_file(&path).unwrap();
            if name == "ok" {
                assert!(result.is_ok(), "{name}: {result:?}");
            } else {
                assert!(
                    matches!(result, Err(KernelError::Load { .. })),
                    "{name}: {result:?}"
                );
            }
        }
        // bzImage header with an old protocol version, and one whose setup is bigger
        // than the file.
        let mut old = vec![0u8; 2048];
        old[0x202..0x206].copy_from_slice(b"HdrS");
        old[0x206..0x208].copy_from_slice(&0x0100u16.to_le_bytes());
        let mut huge_setup = old.clone();
        huge_setup[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        huge_setup[0x211] = 1;
        huge_setup[0x1f1] = 200;
        huge_setup[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes());
        for (name, bytes) in [("old-bz", old), ("huge-setup", huge_setup)] {
            let path = temp_file(name, &bytes);
            let result = load_kernel(&mem, &path);
            std::fs::remove_file(&path).unwrap();
            assert!(
                matches!(result, Err(KernelError::Load { .. })),
                "{name}: {result:?}"
            );
        }
    }
}
