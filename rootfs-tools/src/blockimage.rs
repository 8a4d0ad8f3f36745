//! Block images: read-only layer images (erofs, or ext4 for comparison) built from a staging
//! directory, and the per-container writable ext4 disk.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};
use crate::fsutil::{fsync_dir, remove_any};
use crate::tool::{run_tool, tool_command};
use crate::workdir::WorkDir;

/// Superblock build time of erofs images (2100-01-01): fixed for reproducibility.
pub(crate) const EROFS_BUILD_TIME: u64 = 4_102_444_800;

/// Filesystem of a read-only layer image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    /// erofs, uncompressed: the default (smaller and faster to build; see README).
    #[default]
    Erofs,
    /// ext4 without journal, sized to fit (kept for comparison and guests without erofs).
    Ext4,
}

impl FsType {
    /// The name `mount -t` and the guest use.
    pub fn as_str(self) -> &'static str {
        match self {
            FsType::Erofs => "erofs",
            FsType::Ext4 => "ext4",
        }
    }
}

/// Builds a read-only image of `staging` at `out`, both in `work`. `uuid_seed` (hex, e.g. the
/// layer's diff id) makes the filesystem UUID deterministic, so the same layer gives the same
/// bytes.
pub(crate) fn build_layer_image(
    work: &WorkDir,
    fstype: FsType,
    staging: &Path,
    out: &Path,
    uuid_seed: &str,
) -> Result<()> {
    let uuid = uuid_from_hex(uuid_seed);
    match fstype {
        FsType::Erofs => run_tool(
            "mkfs.erofs",
            "erofs-utils",
            work.tool_command("mkfs.erofs")
                // A fixed far-future build time makes images reproducible; mkfs.erofs clamps
                // mtimes to it, which only touches files dated after 2100.
                .env("SOURCE_DATE_EPOCH", EROFS_BUILD_TIME.to_string())
                .args([OsStr::new("--quiet"), OsStr::new("--preserve-mtime")])
                .args([OsStr::new("-U"), OsStr::new(&uuid)])
                .args([out.as_os_str(), staging.as_os_str()]),
        ),
        FsType::Ext4 => {
            let size = ext4_size_for(staging)?;
            File::create(out)
                .and_then(|f| f.set_len(size))
                .io("create", out)?;
            let inodes = count_inodes(staging)? + 64;
            run_tool(
                "mkfs.ext4",
                "e2fsprogs",
                work.tool_command("mkfs.ext4").args([
                    OsStr::new("-q"),
                    OsStr::new("-F"),
                    OsStr::new("-b"),
                    OsStr::new("4096"),
                    OsStr::new("-m"),
                    OsStr::new("0"),
                    OsStr::new("-N"),
                    OsStr::new(&inodes.to_string()),
                    OsStr::new("-O"),
                    OsStr::new("^has_journal,^resize_inode"),
                    OsStr::new("-U"),
                    OsStr::new(&uuid),
                    OsStr::new("-E"),
                    OsStr::new("lazy_itable_init=1"),
                    OsStr::new("-d"),
                    staging.as_os_str(),
                    out.as_os_str(),
                ]),
            )
        }
    }?;
    File::open(out).and_then(|f| f.sync_all()).io("sync", out)
}

/// Creates a container's writable disk: a sparse file of `size_bytes` holding an ext4 with
/// empty `upper/` and `work/` directories (the overlay's upper and work dirs). Written to a
/// temporary name beside `path` and renamed, so `path` is either absent or complete.
pub fn create_writable_disk(path: &Path, size_bytes: u64) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let staging = beside(path, "staging");
    let tmp = beside(path, "tmp");
    let result = (|| {
        remove_any(&staging)?;
        for dir in ["upper", "work"] {
            fs::create_dir_all(staging.join(dir)).io("create", staging.join(dir))?;
        }
        File::create(&tmp)
            .and_then(|f| f.set_len(size_bytes))
            .io("create", &tmp)?;
        run_tool(
            "mkfs.ext4",
            "e2fsprogs",
            tool_command("mkfs.ext4").args([
                OsStr::new("-q"),
                OsStr::new("-F"),
                OsStr::new("-b"),
                OsStr::new("4096"),
                OsStr::new("-m"),
                OsStr::new("0"),
                OsStr::new("-E"),
                OsStr::new("lazy_itable_init=1,lazy_journal_init=1"),
                OsStr::new("-d"),
                staging.as_os_str(),
                tmp.as_os_str(),
            ]),
        )?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .io("sync", &tmp)?;
        fs::rename(&tmp, path).io("rename into place", path)?;
        fsync_dir(parent)
    })();
    let _ = remove_any(&staging);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A private name beside `path` (`.NAME.KIND-PID-N`), renamed over `path` once complete.
/// N tells apart the threads of one process: `hull system service` creates containers on
/// several at once (docker-compose's services), and on a fresh store each builds the
/// writable template.
fn beside(path: &Path, kind: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "disk".into(), |n| n.to_string_lossy().into_owned());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    parent.join(format!(".{name}.{kind}-{}-{n}", std::process::id()))
}

/// Creates a container's writable disk at `path` as a copy of the empty template for
/// `size_bytes` in `template_dir`, making the template first if needed (with
/// [`create_writable_disk`]). mkfs.ext4 per container costs a process and ~20 ms; copying
/// the template's few hundred KiB of metadata (holes stay holes) takes about a millisecond.
/// Every such disk shares the template's filesystem UUID: harmless, since a VM only ever
/// sees its own.
pub fn create_writable_disk_from_template(
    template_dir: &Path,
    path: &Path,
    size_bytes: u64,
) -> Result<()> {
    let template = template_dir.join(format!("writable-ext4-{size_bytes}.img"));
    if !template.is_file() {
        fs::create_dir_all(template_dir).io("create", template_dir)?;
        // Racing creators each build their own and rename: either result is a whole template.
        create_writable_disk(&template, size_bytes)?;
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    let tmp = beside(path, "tmp");
    let result = (|| {
        copy_sparse(&template, &tmp, size_bytes)?;
        fs::rename(&tmp, path).io("rename into place", path)?;
        fsync_dir(parent)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Copies the data extents of `from` into a new file `to` of `len` bytes and syncs it; the
/// holes are left as holes (a plain copy would write the whole 1 GiB of zeros).
/// copy_file_range shares the blocks outright on filesystems that can (XFS, btrfs).
fn copy_sparse(from: &Path, to: &Path, len: u64) -> Result<()> {
    use rustix::fs::SeekFrom;
    let source = File::open(from).io("open", from)?;
    let target = File::create(to).io("create", to)?;
    target.set_len(len).io("size", to)?;
    let mut offset = 0;
    loop {
        let data = match rustix::fs::seek(&source, SeekFrom::Data(offset)) {
            Ok(data) => data,
            // No data at or after `offset`: the rest is a hole.
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e).io("find data in", from),
        };
        let hole = rustix::fs::seek(&source, SeekFrom::Hole(data)).io("find a hole in", from)?;
        let (mut read_at, mut write_at) = (data, data);
        while read_at < hole {
            let want = usize::try_from(hole - read_at).unwrap_or(usize::MAX);
            let copied = rustix::fs::copy_file_range(
                &source,
                Some(&mut read_at),
                &target,
                Some(&mut write_at),
                want,
            )
            .io("copy", to)?;
            if copied == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
                    .io("copy", from);
            }
        }
        offset = hole;
    }
    target.sync_all().io("sync", to)
}

/// A UUID string from the first 32 hex digits of `seed` (nil-ish if the seed is short).
fn uuid_from_hex(seed: &str) -> String {
    let hex: String = uuid_bytes_from_hex(seed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The 16 bytes of the first 32 hex digits of `seed` (zeros where the seed is short).
pub(crate) fn uuid_bytes_from_hex(seed: &str) -> [u8; 16] {
    let mut digits = seed
        .chars()
        .filter_map(|c| c.to_digit(16))
        .chain(std::iter::repeat(0));
    let mut bytes = [0u8; 16];
    for byte in &mut bytes {
        let (high, low) = (digits.next().unwrap_or(0), digits.next().unwrap_or(0));
        *byte = u8::try_from(high << 4 | low).unwrap_or(0);
    }
    bytes
}

/// Disk usage of a tree (4 KiB blocks, one per inode at least), with headroom for ext4 metadata.
fn ext4_size_for(root: &Path) -> Result<u64> {
    let mut bytes = 0u64;
    let mut inodes = 0u64;
    walk(root, &mut |meta| {
        inodes += 1;
        bytes += meta.size().div_ceil(4096) * 4096;
    })?;
    // 256-byte inodes, 10% slack, plus a floor for the superblock, bitmaps and group tables.
    // Rounded to whole MiB: block devices need a multiple of the sector size.
    let size = (bytes + inodes * 256) / 10 * 11 + 16 * 1024 * 1024;
    Ok(size.div_ceil(1 << 20) << 20)
}

fn count_inodes(root: &Path) -> Result<u64> {
    let mut n = 0u64;
    walk(root, &mut |_| n += 1)?;
    Ok(n)
}

/// Visits the metadata of every entry under `dir` (not following symlinks).
pub(crate) fn walk(dir: &Path, visit: &mut dyn FnMut(&fs::Metadata)) -> Result<()> {
    for entry in fs::read_dir(dir).io("list", dir)? {
        let entry = entry.io("list", dir)?;
        let meta = entry.metadata().io("inspect", entry.path())?;
        visit(&meta);
        if meta.is_dir() {
            walk(&entry.path(), visit)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_derived_from_the_seed() {
        assert_eq!(
            uuid_from_hex("0123456789abcdef0123456789abcdefff"),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(uuid_from_hex(""), "00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn threads_of_one_process_make_the_template_at_once() {
        let path = Path::new("/store/templates/writable.img");
        assert_ne!(beside(path, "tmp"), beside(path, "tmp"));
        if std::process::Command::new("mkfs.ext4")
            .arg("-V")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED threads_of_one_process_make_the_template_at_once: no mkfs.ext4");
            return;
        }
        let dir = std::env::temp_dir().join(format!("hull-template-race-{}", std::process::id()));
        let templates = dir.join("templates");
        let made: Vec<Result<()>> = std::thread::scope(|scope| {
            let disks: Vec<_> = (0..4)
                .map(|i| {
                    let (templates, disk) = (&templates, dir.join(format!("rw-{i}.img")));
                    scope.spawn(move || {
                        create_writable_disk_from_template(templates, &disk, 64 << 20)
                    })
                })
                .collect();
            disks.into_iter().map(|d| d.join().unwrap()).collect()
        });
        let _ = fs::remove_dir_all(&dir);
        for result in made {
            result.unwrap();
        }
    }
}
