//! Shared helpers for the tiny-guest tests: an ELF writer (so tiny guests boot through the
//! same kernel loader as Linux), x86 snippets as bytes with one comment per instruction,
//! and a runner for the `hull-vmm` binary.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where tiny guests are loaded (HIMEM_START: the loader refuses entries below it).
pub const LOAD_ADDR: u64 = 0x10_0000;

/// Why the test cannot run here, if it cannot.
pub fn skip_reason() -> Option<&'static str> {
    if !Path::new("/dev/kvm").exists() {
        return Some("/dev/kvm does not exist on this host");
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return Some("/dev/kvm is not accessible to this user");
    }
    None
}

/// One loadable segment.
pub struct Segment {
    /// Guest-physical load address.
    pub paddr: u64,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// A guest of one segment: `code` loaded at, and entered at, [`LOAD_ADDR`].
pub fn flat_guest(code: Vec<u8>) -> Vec<u8> {
    elf(
        LOAD_ADDR,
        &[Segment {
            paddr: LOAD_ADDR,
            bytes: code,
        }],
        None,
    )
}

/// An x86_64 ELF executable with `segments`, entry `entry`, and (if `pvh_entry`) a
/// Xen PHYS32_ENTRY note, as a Linux vmlinux has.
pub fn elf(entry: u64, segments: &[Segment], pvh_entry: Option<u32>) -> Vec<u8> {
    const EHDR: u16 = 64;
    const PHDR: u16 = 56;
    let note = pvh_entry.map(|e| {
        let mut n = Vec::new();
        n.extend_from_slice(&4u32.to_le_bytes()); // namesz ("Xen\0")
        n.extend_from_slice(&4u32.to_le_bytes()); // descsz
        n.extend_from_slice(&18u32.to_le_bytes()); // XEN_ELFNOTE_PHYS32_ENTRY
        n.extend_from_slice(b"Xen\0");
        n.extend_from_slice(&e.to_le_bytes());
        n
    });
    let phnum = segments.len() + usize::from(note.is_some());
    let mut offset = usize::from(EHDR) + usize::from(PHDR) * phnum;
    let mut out = Vec::new();
    out.extend_from_slice(b"\x7fELF");
    out.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, version 1, SysV
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&entry.to_le_bytes());
    out.extend_from_slice(&u64::from(EHDR).to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&EHDR.to_le_bytes());
    out.extend_from_slice(&PHDR.to_le_bytes());
    out.extend_from_slice(&u16::try_from(phnum).unwrap().to_le_bytes());
    out.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
    let push_phdr = |out: &mut Vec<u8>, kind: u32, paddr: u64, len: usize, off: usize| {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&7u32.to_le_bytes()); // RWX
        out.extend_from_slice(&(off as u64).to_le_bytes());
        out.extend_from_slice(&paddr.to_le_bytes()); // vaddr
        out.extend_from_slice(&paddr.to_le_bytes()); // paddr
        out.extend_from_slice(&(len as u64).to_le_bytes());
        out.extend_from_slice(&(len as u64).to_le_bytes());
        out.extend_from_slice(&4u64.to_le_bytes());
    };
    for s in segments {
        push_phdr(&mut out, 1, s.paddr, s.bytes.len(), offset); // PT_LOAD
        offset += s.bytes.len();
    }
    if let Some(n) = &note {
        push_phdr(&mut out, 4, 0, n.len(), offset); // PT_NOTE
    }
    for s in segments {
        out.extend_from_slice(&s.bytes);
    }
    if let Some(n) = note {
        out.extend_from_slice(&n);
    }
    out
}

/// Code fragments; valid in 16-, 32- and 64-bit mode unless the name says otherwise.
pub mod x86 {
    /// `mov dx, 0x3f8` (COM1 data port) for 32/64-bit code.
    pub const DX_COM1: [u8; 4] = [0x66, 0xba, 0xf8, 0x03];
    /// `mov dx, 0x3f8` for 16-bit code.
    pub const DX_COM1_16: [u8; 3] = [0xba, 0xf8, 0x03];

    /// `mov al, b; out dx, al` for each byte of `text` (DX must hold COM1).
    pub fn print(text: &[u8]) -> Vec<u8> {
        text.iter()
            .flat_map(|b| [0xb0, *b, 0xee]) // mov al, b; out dx, al
            .collect()
    }

    /// `mov al, 0xfe; out 0x64, al` (i8042 CPU reset), then `hlt; jmp $-1` forever.
    pub const RESET: [u8; 7] = [
        0xb0, 0xfe, // mov al, 0xfe
        0xe6, 0x64, // out 0x64, al
        0xf4, //       hlt
        0xeb, 0xfd, // jmp short -3 (back to hlt)
    ];
}

/// What a `hull-vmm` run produced.
pub struct RunResult {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
}

/// Writes `image` to a temp file and boots it with `hull-vmm --kernel FILE extra...`,
/// killing it after `timeout`.
pub fn run_hull_vmm(name: &str, image: &[u8], extra: &[&str], timeout: Duration) -> RunResult {
    let path = temp_path(name);
    std::fs::write(&path, image).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hull-vmm"))
        .arg("--kernel")
        .arg(&path)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hull-vmm");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = std::fs::remove_file(&path);
    RunResult {
        status,
        stdout,
        stderr,
        wall,
    }
}

/// A per-process temp path.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hull-vmm-test-{}-{name}", std::process::id()))
}

/// A guest kernel to boot: `HULL_KERNEL`, else the newest cached `vmlinux` under
/// `$HULL_CACHE/kernel/` (default /var/cache/hull).
pub fn find_linux_kernel() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HULL_KERNEL") {
        return Some(PathBuf::from(path));
    }
    find_cached_kernel("")
}

/// The newest cached `vmlinux` of a profile directory starting with `prefix`.
pub fn find_cached_kernel(prefix: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("HULL_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/hull"), PathBuf::from);
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(cache.join("kernel"))
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            if !entry.file_name().to_string_lossy().starts_with(prefix) {
                return None;
            }
            let path = entry.path().join("vmlinux");
            let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
            Some((modified, path))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path)
}

/// Runs `hull-vmm args...` until its stdout contains every one of `needles` (then kills
/// it), it exits, or `timeout` passes. Returns the stdout seen, stderr, and whether it
/// exited by itself (with its status).
pub fn run_until(
    args: &[&str],
    needles: &[&str],
    timeout: Duration,
) -> (String, String, Option<Option<i32>>) {
    use std::sync::mpsc;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hull-vmm"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hull-vmm");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut exited = None;
    while start.elapsed() < timeout {
        while let Ok(chunk) = rx.try_recv() {
            seen.extend(chunk);
        }
        let text = String::from_utf8_lossy(&seen);
        if needles.iter().all(|n| text.contains(n)) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status.code());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if exited.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    let _ = reader.join();
    while let Ok(chunk) = rx.try_recv() {
        seen.extend(chunk);
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (String::from_utf8_lossy(&seen).into_owned(), stderr, exited)
}

/// The pvm-compat kernel, or None after printing why the test is skipped.
pub fn compat_kernel_or_skip() -> Option<String> {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return None;
    }
    let kernel = std::env::var_os("HULL_COMPAT_KERNEL")
        .map(std::path::PathBuf::from)
        .or_else(|| find_cached_kernel("pvm-compat"));
    let Some(kernel) = kernel else {
        eprintln!("skipped: no pvm-compat kernel (set HULL_COMPAT_KERNEL or run kernel-config/build.sh --profile pvm-compat)");
        return None;
    };
    Some(kernel.to_string_lossy().into_owned())
}

/// The compat profile's options from the one place hull builds them;
/// `HULL_COMPAT_CMDLINE` overrides.
pub fn compat_options() -> String {
    std::env::var("HULL_COMPAT_CMDLINE")
        .unwrap_or_else(|_| hull_kernel::cmdline::EMULATED_KVM_COMPAT.join(" "))
}

/// A 16 MiB ext4 image holding /bin/busybox and `init` as /init (which must mount
/// devtmpfs itself: the kernel does not auto-mount it). None after printing why the
/// test is skipped (no /bin/busybox or mkfs.ext4).
pub fn busybox_root_disk(name: &str, init: &str) -> Option<std::path::PathBuf> {
    if !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipped: /bin/busybox missing (apt-get install busybox-static)");
        return None;
    }
    let root = temp_path(&format!("{name}-root"));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["bin", "dev", "proc", "sys"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::fs::write(root.join("init"), init).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let disk = temp_path(&format!("{name}-root.ext4"));
    let _ = std::fs::remove_file(&disk);
    let mkfs = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-d"])
        .arg(&root)
        .arg(&disk)
        .arg("16M")
        .status();
    let _ = std::fs::remove_dir_all(&root);
    match mkfs {
        Ok(status) if status.success() => Some(disk),
        other => {
            eprintln!(
                "skipped: mkfs.ext4 failed or missing ({other:?}; apt-get install e2fsprogs)"
            );
            None
        }
    }
}

/// One QMP session on the control socket at `socket`: the greeting, then each request
/// line (raw JSON) and its answer line.
pub fn qmp_session(socket: &Path, requests: &[&str]) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("{\"QMP\""), "greeting: {line}");
    requests
        .iter()
        .map(|request| {
            writeln!(writer, "{request}").unwrap();
            line.clear();
            reader.read_line(&mut line).unwrap();
            line.trim().to_string()
        })
        .collect()
}

/// Waits until `path` exists (a socket hull-vmm binds), at most `timeout`.
pub fn wait_for_path(path: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
