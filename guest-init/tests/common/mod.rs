//! Shared fixtures of the guest-init integration tests: erofs layer images with whiteouts,
//! ext4 writable disks, config disks.

#![allow(dead_code)]

use hull_protocol::{layer_disk_serial, LayerDisk, RunResult, RunSpec, WritableDisk};
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Busybox applets the tests' scripts use.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "ls", "hostname", "id", "kill", "sleep", "test", "mkdir", "touch", "true",
    "readlink", "stat", "mount", "dd", "tr", "rm", "pwd", "stty", "wc",
];

/// Why a test cannot run here, if it cannot.
pub fn skip_reason(tools: &[&str]) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (mounts, loop devices)".into());
    }
    for tool in tools {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("/bin/busybox missing (apt-get install busybox-static)".into());
    }
    None
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let c_name = CString::new(name).unwrap();
    // SAFETY: the strings are NUL-terminated and the value pointer/length describe a live
    // slice for the duration of the call.
    let rc = unsafe {
        libc::setxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr {name} on {}", path.display());
}

/// Bottom layer: busybox with applet links, /etc files, a directory the upper layer
/// makes opaque.
pub fn make_base_layer(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in APPLETS {
        symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    for d in ["etc", "data/opaque", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(dir.join("etc/keep.txt"), "kept\n").unwrap();
    fs::write(dir.join("etc/hidden.txt"), "should be hidden\n").unwrap();
    fs::write(dir.join("data/opaque/old.txt"), "old\n").unwrap();
    fs::write(dir.join("etc/noexec"), "not a program\n").unwrap();
}

/// Top layer: a whiteout (char 0/0) of /etc/hidden.txt and an opaque /data/opaque.
pub fn make_top_layer(dir: &Path) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("data/opaque")).unwrap();
    nix::sys::stat::mknod(
        &dir.join("etc/hidden.txt"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
    set_xattr(&dir.join("data/opaque"), "trusted.overlay.opaque", b"y");
    fs::write(dir.join("data/opaque/new.txt"), "new\n").unwrap();
}

/// An erofs image of `dir`.
pub fn mkfs_erofs(dir: &Path, image: &Path) {
    run(Command::new("mkfs.erofs").arg("-d0").arg(image).arg(dir));
}

/// An empty ext4 image, as hull creates writable disks.
pub fn mkfs_ext4(image: &Path, mib: u64) {
    let file = fs::File::create(image).unwrap();
    file.set_len(mib << 20).unwrap();
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image));
}

/// A loop device, detached on drop.
pub struct Loop {
    pub device: PathBuf,
}

impl Loop {
    pub fn attach(image: &Path, read_only: bool) -> Self {
        let mut cmd = Command::new("losetup");
        cmd.args(["--find", "--show"]);
        if read_only {
            cmd.arg("--read-only");
        }
        let out = cmd.arg(image).output().unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            device: PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()),
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}

/// A busybox image of two erofs layers (in `dir`): base + whiteout/opaque top.
pub fn make_image(dir: &Path) -> Vec<PathBuf> {
    let base = dir.join("layer0");
    let top = dir.join("layer1");
    make_base_layer(&base);
    make_top_layer(&top);
    let images = vec![dir.join("layer0.erofs"), dir.join("layer1.erofs")];
    mkfs_erofs(&base, &images[0]);
    mkfs_erofs(&top, &images[1]);
    images
}

/// An OCI spec running `sh -c script`.
pub fn shell_spec(script: &str, extra: serde_json::Value) -> oci_spec::runtime::Spec {
    let mut spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "args": ["sh", "-c", script],
            "env": ["PATH=/bin", "HOME=/"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        },
        "root": {"path": "rootfs"},
        "linux": {"namespaces": [{"type": "mount"}]}
    });
    merge(&mut spec, extra);
    serde_json::from_value(spec).unwrap()
}

fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
    match (base, extra) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

/// A RunSpec over `layers` layer disks (serials hull-layer-N) and the writable disk.
pub fn run_spec(config: oci_spec::runtime::Spec, layers: usize, writable: bool) -> RunSpec {
    RunSpec {
        version: hull_protocol::PROTOCOL_VERSION,
        container_id: "test0001".into(),
        layers: (0..layers)
            .map(|i| LayerDisk {
                serial: layer_disk_serial(i),
                fstype: "erofs".into(),
                diff_id: format!("sha256:{i:064}"),
            })
            .collect(),
        writable: writable.then(|| WritableDisk {
            serial: hull_protocol::WRITABLE_DISK_SERIAL.into(),
            fstype: "ext4".into(),
            ephemeral: false,
        }),
        config,
    }
}

/// Writes a fresh config disk holding `spec`.
pub fn write_config(path: &Path, spec: &RunSpec) {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    file.set_len(hull_protocol::CONFIG_DISK_SIZE).unwrap();
    spec.write_to(&mut file).unwrap();
}

/// Reads the result frame of a config disk.
pub fn read_result(path: &Path) -> RunResult {
    let mut file = fs::File::open(path).unwrap();
    RunResult::read_from(&mut file).unwrap()
}
