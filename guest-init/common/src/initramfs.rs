//! Host side: the initramfs hull boots with, an uncompressed newc cpio holding `/init`
//! (hull-init), the directories it mounts on, and `/dev/console` so PID 1 has stdio.

use std::path::{Path, PathBuf};

/// Errors building the initramfs.
#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    /// The hull-init binary could not be read.
    #[error("cannot read the guest init {}: build it with `cargo build --release -p hull-guest-init --target x86_64-unknown-linux-gnu` or set HULL_INIT", path.display())]
    ReadInit {
        /// The path tried.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The binary does not fit a cpio entry.
    #[error("the guest init is larger than 4 GiB")]
    TooLarge,
    /// The binary needs a dynamic loader the guest does not have.
    #[error("the guest init is not a static x86_64 ELF executable (the guest has no libc): build it with scripts/build.sh")]
    NotStatic,
}

/// Whether `elf` is a 64-bit ELF executable without a program interpreter (PT_INTERP),
/// i.e. one the kernel can run as PID 1 from an initramfs holding nothing else.
pub fn is_static_elf(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // Magic, ELFCLASS64, little endian.
    if elf.get(..6) != Some(&b"\x7fELF\x02\x01"[..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..phnum).all(|i| {
        let kind = phoff
            .checked_add(i * phentsize)
            .and_then(|at| elf.get(at..at.checked_add(4)?));
        // A header table outside the file is as unusable as an interpreter.
        matches!(kind, Some(k) if k != PT_INTERP.to_le_bytes())
    })
}

/// Directories in the initramfs (mount points of PID 1).
const DIRS: [&str; 6] = ["dev", "proc", "sys", "run", "mnt", "tmp"];

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;

struct Entry<'a> {
    name: &'a str,
    mode: u32,
    rdev: (u32, u32),
    data: &'a [u8],
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn push_entry(out: &mut Vec<u8>, ino: u32, entry: &Entry<'_>) -> Result<(), InitramfsError> {
    let filesize = u32::try_from(entry.data.len()).map_err(|_| InitramfsError::TooLarge)?;
    let namesize = u32::try_from(entry.name.len() + 1).map_err(|_| InitramfsError::TooLarge)?;
    let nlink = if entry.mode & S_IFDIR != 0 { 2 } else { 1 };
    let fields = [
        ino,
        entry.mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: reproducible images
        filesize,
        0, // devmajor
        0, // devminor
        entry.rdev.0,
        entry.rdev.1,
        namesize,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(entry.name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(entry.data);
    pad4(out);
    Ok(())
}

/// Builds the newc archive around the init binary's bytes.
pub fn build_initramfs_from_bytes(init: &[u8]) -> Result<Vec<u8>, InitramfsError> {
    let mut entries: Vec<Entry<'_>> = DIRS
        .iter()
        .map(|d| Entry {
            name: d,
            mode: S_IFDIR | 0o755,
            rdev: (0, 0),
            data: &[],
        })
        .collect();
    entries.push(Entry {
        name: "dev/console",
        mode: S_IFCHR | 0o600,
        rdev: (5, 1),
        data: &[],
    });
    entries.push(Entry {
        name: "init",
        mode: S_IFREG | 0o755,
        rdev: (0, 0),
        data: init,
    });
    entries.push(Entry {
        name: "TRAILER!!!",
        mode: 0,
        rdev: (0, 0),
        data: &[],
    });
    let mut out = Vec::with_capacity(init.len() + 1024);
    for (ino, entry) in (1u32..).zip(entries.iter()) {
        push_entry(&mut out, ino, entry)?;
    }
    // The kernel reads the archive in 512-byte blocks, like cpio(1) writes it.
    while !out.len().is_multiple_of(512) {
        out.push(0);
    }
    Ok(out)
}

/// Builds the initramfs around the hull-init binary at `init_binary`.
pub fn build_initramfs(init_binary: &Path) -> Result<Vec<u8>, InitramfsError> {
    let init = std::fs::read(init_binary).map_err(|source| InitramfsError::ReadInit {
        path: init_binary.to_path_buf(),
        source,
    })?;
    if !is_static_elf(&init) {
        return Err(InitramfsError::NotStatic);
    }
    build_initramfs_from_bytes(&init)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_and_broken_binaries_are_not_static() {
        // This test binary links glibc dynamically.
        let this = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&this));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&this[..70]));
        let err = build_initramfs(&std::env::current_exe().unwrap()).unwrap_err();
        assert!(matches!(err, InitramfsError::NotStatic), "{err}");
    }

    #[test]
    fn a_static_busybox_is_static() {
        let Ok(busybox) = std::fs::read("/bin/busybox") else {
            eprintln!("skipped: /bin/busybox missing (apt-get install busybox-static)");
            return;
        };
        assert!(is_static_elf(&busybox));
    }

    fn field(header: &[u8], index: usize) -> u32 {
        let start = 6 + index * 8;
        u32::from_str_radix(std::str::from_utf8(&header[start..start + 8]).unwrap(), 16).unwrap()
    }

    /// One parsed entry: (name, mode, rdev, data).
    type Parsed = (String, u32, (u32, u32), Vec<u8>);

    /// Parses a newc archive.
    fn parse(mut archive: &[u8]) -> Vec<Parsed> {
        let mut out = Vec::new();
        let total = archive.len();
        loop {
            assert_eq!(&archive[..6], b"070701");
            let mode = field(archive, 1);
            let size = field(archive, 6) as usize;
            let rdev = (field(archive, 9), field(archive, 10));
            let namesize = field(archive, 11) as usize;
            let name = String::from_utf8(archive[110..110 + namesize - 1].to_vec()).unwrap();
            let data_start = (110 + namesize).div_ceil(4) * 4;
            let data = archive[data_start..data_start + size].to_vec();
            let next = (data_start + size).div_ceil(4) * 4;
            assert_eq!((total - archive.len() + next) % 4, 0);
            archive = &archive[next..];
            if name == "TRAILER!!!" {
                assert!(archive.iter().all(|b| *b == 0));
                return out;
            }
            out.push((name, mode, rdev, data));
        }
    }

    #[test]
    fn archive_has_init_dirs_and_console() {
        let archive = build_initramfs_from_bytes(b"\x7fELF-fake-init").unwrap();
        assert_eq!(archive.len() % 512, 0);
        let entries = parse(&archive);
        let init = entries.iter().find(|e| e.0 == "init").unwrap();
        assert_eq!(init.1, 0o100_755);
        assert_eq!(init.3, b"\x7fELF-fake-init");
        let console = entries.iter().find(|e| e.0 == "dev/console").unwrap();
        assert_eq!((console.1, console.2), (0o020_600, (5, 1)));
        for dir in DIRS {
            let e = entries.iter().find(|e| e.0 == dir).unwrap();
            assert_eq!(e.1, 0o040_755, "{dir}");
        }
    }

    #[test]
    fn cpio_tool_accepts_the_archive() {
        let Ok(status) = std::process::Command::new("cpio").arg("--version").output() else {
            eprintln!("skipping: cpio(1) not installed");
            return;
        };
        assert!(status.status.success());
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("initramfs.cpio");
        std::fs::write(&image, build_initramfs_from_bytes(b"#!init").unwrap()).unwrap();
        let listing = std::process::Command::new("cpio")
            .args(["-itv", "-F"])
            .arg(&image)
            .output()
            .unwrap();
        assert!(listing.status.success(), "{listing:?}");
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("init"), "{text}");
        assert!(text.contains("dev/console"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("crw-------")
                && l.contains("5,")
                && l.contains("dev/console")),
            "{text}"
        );
    }

    #[test]
    fn missing_binary_says_how_to_build_it() {
        let err = build_initramfs(Path::new("/nonexistent/hull-init")).unwrap_err();
        assert!(err.to_string().contains("cargo build"), "{err}");
    }
}
