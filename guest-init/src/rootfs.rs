//! Assembles the container's root filesystem: read-only image layers as overlayfs lowerdirs
//! (top layer first), the writable disk as upperdir + workdir.

use crate::error::SetupError;
use crate::syscall::Syscall;
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// Filesystems accepted on image layer disks.
const LAYER_FSTYPES: [&str; 2] = ["erofs", "ext4"];

/// Mount options of the writable ext4. hull makes it with `lazy_itable_init=1` (mkfs stays
/// fast on the host); without `noinit_itable` the kernel would then start its ext4lazyinit
/// thread and zero every inode table (16 MiB on the default 1 GiB disk) through virtio-blk
/// while the container runs, which under TCG costs more than the container itself. The
/// tables are only needed zeroed for e2fsck's benefit: the group descriptors' unused-inode
/// counts (uninit_bg/metadata_csum) already tell the kernel what is in use.
pub const WRITABLE_EXT4_OPTIONS: &str = "noinit_itable";

/// Where hull-init mounts things; `/mnt` in the guest, a temp dir in host tests. Short
/// paths matter: every layer's path goes into one mount option string (one page at most).
#[derive(Debug, Clone)]
pub struct Layout {
    base: PathBuf,
}

impl Layout {
    /// A layout under `base`.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// Mount point of layer `index` (0 = bottom).
    pub fn layer(&self, index: usize) -> PathBuf {
        self.base.join("l").join(index.to_string())
    }

    /// Mount point of the writable disk.
    pub fn writable(&self) -> PathBuf {
        self.base.join("rw")
    }

    /// The lower directory of an image without layers (`scratch`).
    pub fn empty_lower(&self) -> PathBuf {
        self.base.join("empty")
    }

    /// Where the volumes' virtio-fs share is mounted.
    pub fn share(&self) -> PathBuf {
        self.base.join("share")
    }

    /// Where the container's root (the overlay) is mounted.
    pub fn root(&self) -> PathBuf {
        self.base.join("root")
    }
}

/// A block device holding one filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Device node, e.g. `/dev/vdb` or `/dev/loop3`.
    pub device: PathBuf,
    /// Filesystem type.
    pub fstype: String,
}

/// overlayfs' escaping for paths in lowerdir/upperdir/workdir: `\`, `:` and `,` are special.
fn escape_overlay_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, '\\' | ':' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The overlayfs mount options. `lowers` are bottom first, as in the spec; overlayfs wants
/// the topmost lower first in `lowerdir=`.
pub fn overlay_options(lowers: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lowerdir = lowers
        .iter()
        .rev()
        .map(|p| escape_overlay_path(p))
        .collect::<Vec<_>>()
        .join(":");
    format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        escape_overlay_path(upper),
        escape_overlay_path(work)
    )
}

fn mkdir(sys: &dyn Syscall, path: &Path) -> Result<(), SetupError> {
    sys.mkdir_all(path, 0o755)
        .map_err(|e| SetupError::sys(format!("mkdir {}", path.display()), e))
}

fn mount(
    sys: &dyn Syscall,
    source: &Path,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SetupError> {
    sys.mount(Some(source), target, Some(fstype), flags, data)
        .map_err(|e| {
            SetupError::sys(
                format!(
                    "mount {} ({fstype}) on {} (is the filesystem built into the guest kernel?)",
                    source.display(),
                    target.display()
                ),
                e,
            )
        })
}

/// Mounts the layers and the writable disk under `layout` and the overlay at
/// [`Layout::root`]. `layers` are bottom first; no layers (scratch) gives an empty lower;
/// no writable disk gives a tmpfs upper (changes are lost at exit).
pub fn assemble(
    sys: &dyn Syscall,
    layout: &Layout,
    layers: &[Disk],
    writable: Option<&Disk>,
) -> Result<PathBuf, SetupError> {
    let mut lowers = Vec::with_capacity(layers.len().max(1));
    for (index, layer) in layers.iter().enumerate() {
        if !LAYER_FSTYPES.contains(&layer.fstype.as_str()) {
            return Err(SetupError::Spec(format!(
                "layer {index} has filesystem {:?}; hull-init mounts erofs or ext4 layers",
                layer.fstype
            )));
        }
        let dir = layout.layer(index);
        mkdir(sys, &dir)?;
        mount(
            sys,
            &layer.device,
            &dir,
            &layer.fstype,
            MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
            None,
        )?;
        lowers.push(dir);
    }
    if lowers.is_empty() {
        let empty = layout.empty_lower();
        mkdir(sys, &empty)?;
        lowers.push(empty);
    }

    let rw = layout.writable();
    mkdir(sys, &rw)?;
    match writable {
        Some(disk) => {
            if disk.fstype != "ext4" {
                return Err(SetupError::Spec(format!(
                    "writable disk has filesystem {:?}; hull creates it as ext4",
                    disk.fstype
                )));
            }
            mount(
                sys,
                &disk.device,
                &rw,
                "ext4",
                MsFlags::MS_NOATIME,
                Some(WRITABLE_EXT4_OPTIONS),
            )?;
        }
        None => mount(
            sys,
            Path::new("tmpfs"),
            &rw,
            "tmpfs",
            MsFlags::empty(),
            Some("mode=755"),
        )?,
    }
    // hull creates the disk with a bare mkfs.ext4, so the first boot makes these.
    let upper = rw.join("upper");
    let work = rw.join("work");
    mkdir(sys, &upper)?;
    mkdir(sys, &work)?;

    let root = layout.root();
    mkdir(sys, &root)?;
    let options = overlay_options(&lowers, &upper, &work);
    mount(
        sys,
        Path::new("overlay"),
        &root,
        "overlay",
        MsFlags::empty(),
        Some(&options),
    )?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::fake::RecordingSyscall;

    #[test]
    fn lowerdir_lists_the_top_layer_first() {
        let lowers = [
            PathBuf::from("/mnt/l/0"),
            PathBuf::from("/mnt/l/1"),
            PathBuf::from("/mnt/l/2"),
        ];
        assert_eq!(
            overlay_options(
                &lowers,
                Path::new("/mnt/rw/upper"),
                Path::new("/mnt/rw/work")
            ),
            "lowerdir=/mnt/l/2:/mnt/l/1:/mnt/l/0,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work"
        );
    }

    #[test]
    fn special_characters_in_paths_are_escaped() {
        let opts = overlay_options(&[PathBuf::from("/a:b,c")], Path::new("/u"), Path::new("/w"));
        assert_eq!(opts, "lowerdir=/a\\:b\\,c,upperdir=/u,workdir=/w");
    }

    #[test]
    fn layers_mount_read_only_then_writable_then_overlay() {
        let sys = RecordingSyscall::default();
        let disk = |dev: &str, fs: &str| Disk {
            device: dev.into(),
            fstype: fs.into(),
        };
        let root = assemble(
            &sys,
            &Layout::new("/mnt"),
            &[disk("/dev/vdb", "erofs"), disk("/dev/vdc", "erofs")],
            Some(&disk("/dev/vdd", "ext4")),
        )
        .unwrap();
        assert_eq!(root, PathBuf::from("/mnt/root"));
        let mounts = sys.mounts();
        let targets: Vec<_> = mounts.iter().map(|m| m.0.to_str().unwrap()).collect();
        assert_eq!(targets, ["/mnt/l/0", "/mnt/l/1", "/mnt/rw", "/mnt/root"]);
        assert_eq!(mounts[2].2.as_deref(), Some("noinit_itable"));
        assert_eq!(mounts[3].1.as_deref(), Some("overlay"));
        assert_eq!(
            mounts[3].2.as_deref(),
            Some("lowerdir=/mnt/l/1:/mnt/l/0,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work")
        );
        let calls = sys.calls.borrow();
        let read_only = calls.iter().any(|c| {
            matches!(c, crate::syscall::fake::Call::Mount { target, flags, .. }
                if target == Path::new("/mnt/l/0") && flags.contains(MsFlags::MS_RDONLY))
        });
        assert!(read_only);
    }

    #[test]
    fn scratch_image_without_writable_disk_uses_empty_lower_and_tmpfs() {
        let sys = RecordingSyscall::default();
        assemble(&sys, &Layout::new("/mnt"), &[], None).unwrap();
        let mounts = sys.mounts();
        assert_eq!(mounts[0].1.as_deref(), Some("tmpfs"));
        assert_eq!(
            mounts[1].2.as_deref(),
            Some("lowerdir=/mnt/empty,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work")
        );
    }

    #[test]
    fn unknown_layer_filesystem_is_refused() {
        let sys = RecordingSyscall::default();
        let err = assemble(
            &sys,
            &Layout::new("/mnt"),
            &[Disk {
                device: "/dev/vdb".into(),
                fstype: "ntfs".into(),
            }],
            None,
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 125);
        assert!(sys.mounts().is_empty());
    }
}
