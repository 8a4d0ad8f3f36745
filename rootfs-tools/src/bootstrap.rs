//! Base images hull builds offline (there is no registry here): `busybox` from Debian's
//! busybox-static, `debian:bookworm` via debootstrap, and `scratch`. Each is turned into an
//! ordinary one-layer image through the same ingest path as `load`, so a bootstrapped image
//! saves, loads and converts exactly like an imported one.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::assemble::assemble_image;
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{now_rfc3339, remove_any, rfc3339};
use crate::image::Image;
use crate::ingest::{ingest_layer, LayerBlob, LayerSpec};
use crate::progress::Progress;
use crate::reference;
use crate::store::{NewImage, Store};
use crate::tool::{tool_command, tool_spawn_error};
use crate::treetar::tar_directory;
use crate::workdir::WorkDir;

/// PATH of every base image (Docker's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where Debian's busybox-static puts the binary (merged-usr hosts have both).
const BUSYBOX_CANDIDATES: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// A base image hull knows how to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseImage {
    /// `busybox:latest`.
    Busybox,
    /// `debian:bookworm` (also `debian:12`, and `debian`/`debian:latest`: the Debian
    /// release hull bootstraps offline is the one the host's own mirror serves).
    DebianBookworm,
    /// `scratch:latest`: one empty layer.
    Scratch,
}

impl BaseImage {
    /// The base image `reference` names, if any.
    pub fn for_reference(reference: &str) -> Option<BaseImage> {
        match reference::normalize(reference).ok()?.as_str() {
            "busybox:latest" => Some(BaseImage::Busybox),
            "debian:bookworm" | "debian:12" | "debian:latest" => Some(BaseImage::DebianBookworm),
            "scratch:latest" => Some(BaseImage::Scratch),
            _ => None,
        }
    }

    /// The reference the built image gets.
    pub fn reference(self) -> &'static str {
        match self {
            BaseImage::Busybox => "busybox:latest",
            BaseImage::DebianBookworm => "debian:bookworm",
            BaseImage::Scratch => "scratch:latest",
        }
    }
}

/// A layer tar plus the config bits describing it.
struct BuiltLayer {
    tar: PathBuf,
    created: String,
    created_by: String,
    cmd: Option<&'static str>,
}

impl Store {
    /// Docker's implicit pull, offline: the image `reference` names if it is local; else, if it
    /// is a base image hull can build, builds it; `Ok(None)` for any other missing name.
    pub fn ensure_base_image(
        &self,
        reference: &str,
        progress: &dyn Progress,
    ) -> Result<Option<Image>> {
        match self.resolve(reference) {
            Ok(image) => return Ok(Some(image)),
            Err(StoreError::ImageNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let Some(base) = BaseImage::for_reference(reference) else {
            return Ok(None);
        };
        // Another name of a base image already built (debian:latest for debian:bookworm)
        // is a new tag of it, not a second bootstrap.
        match self.resolve(base.reference()) {
            Ok(_) => {}
            Err(StoreError::ImageNotFound(_)) => {
                self.bootstrap_base(base, progress)?;
            }
            Err(e) => return Err(e),
        }
        if reference::normalize(reference)? != base.reference() {
            self.tag(base.reference(), reference)?;
        }
        self.resolve(reference).map(Some)
    }

    /// `hull image bootstrap NAME`: (re)builds a base image and tags it. busybox and scratch
    /// are reproducible (same id every time); debian takes minutes and needs the Debian mirror.
    pub fn bootstrap(&self, name: &str, progress: &dyn Progress) -> Result<Image> {
        let base = BaseImage::for_reference(name)
            .ok_or_else(|| StoreError::UnknownBaseImage(name.to_owned()))?;
        self.bootstrap_base(base, progress)
    }

    fn bootstrap_base(&self, base: BaseImage, progress: &dyn Progress) -> Result<Image> {
        let work = self.work_dir()?;
        let built = match base {
            BaseImage::Busybox => busybox_layer(&work)?,
            BaseImage::Scratch => scratch_layer(&work)?,
            BaseImage::DebianBookworm => debian_layer(&work, progress)?,
        };
        let label = format!("{} base layer", base.reference());
        let spec = LayerSpec {
            label: &label,
            blob_digest: None,
            media_type: None,
            diff_id: None,
        };
        let blob = LayerBlob::Owned(built.tar.clone());
        let layer = ingest_layer(self, &work, blob, &spec, progress)?;
        fs::remove_file(&built.tar).io("remove", &built.tar)?;
        let mut config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": built.created,
            "config": { "Env": [DEFAULT_PATH] },
            "rootfs": { "type": "layers", "diff_ids": [layer.diff_id] },
            "history": [{ "created": built.created, "created_by": built.created_by }],
        });
        if let Some(cmd) = built.cmd {
            config["config"]["Cmd"] = serde_json::json!([cmd]);
        }
        let config_bytes = serde_json::to_vec(&config).map_err(|source| StoreError::Json {
            what: "base image config".into(),
            source,
        })?;
        let record = assemble_image(&work, &config_bytes, vec![layer], None)?;
        let images = self.commit(
            &work,
            vec![NewImage {
                record,
                tags: vec![base.reference().to_owned()],
            }],
        )?;
        images
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::ImageNotFound(base.reference().into()))
    }
}

/// busybox: the static binary, one absolute symlink per applet at the path busybox itself
/// lists, a minimal /etc. All times are the binary's mtime, so the image id is reproducible.
fn busybox_layer(work: &WorkDir) -> Result<BuiltLayer> {
    let busybox = BUSYBOX_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .ok_or(StoreError::ToolMissing {
            tool: "busybox",
            package: "busybox-static",
        })?;
    let binary = fs::read(busybox).io("read", busybox)?;
    if !is_static_elf(&binary) {
        return Err(StoreError::ToolMissing {
            tool: "a static busybox (the installed one is dynamically linked)",
            package: "busybox-static",
        });
    }
    let mtime = fs::metadata(busybox)
        .io("inspect", busybox)?
        .mtime()
        .max(0)
        .unsigned_abs();
    let output = tool_command(busybox)
        .arg("--list-full")
        .output()
        .map_err(|e| tool_spawn_error("busybox", "busybox-static", e))?;
    let applets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "bin/busybox" && *l != "linuxrc" && !l.contains(".."))
        .map(str::to_owned)
        .collect();

    // `busybox` alone prints "BusyBox v1.35.0 (Debian ...) multi-call binary." first.
    let banner = tool_command(busybox)
        .output()
        .map_err(|e| tool_spawn_error("busybox", "busybox-static", e))?;
    let os_release = busybox_os_release(&String::from_utf8_lossy(&banner.stdout));

    let tar_path = work.path().join("busybox-layer.tar");
    let mut builder = tar::Builder::new(File::create(&tar_path).io("create", &tar_path)?);
    let mut add = |path: &str,
                   kind: tar::EntryType,
                   mode: u32,
                   data: &[u8],
                   link: Option<&str>|
     -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_size(data.len() as u64);
        match link {
            Some(target) => builder.append_link(&mut header, path, target),
            None => builder.append_data(&mut header, path, data),
        }
    };
    let mut write = || -> io::Result<()> {
        let dirs: [(&str, u32); 16] = [
            ("bin", 0o755),
            ("dev", 0o755),
            ("etc", 0o755),
            ("home", 0o755),
            ("proc", 0o555),
            ("root", 0o700),
            ("sbin", 0o755),
            ("sys", 0o555),
            ("tmp", 0o1777),
            ("usr", 0o755),
            ("usr/bin", 0o755),
            ("usr/sbin", 0o755),
            ("var", 0o755),
            ("var/spool", 0o755),
            ("var/spool/mail", 0o755),
            ("var/www", 0o755),
        ];
        for (dir, mode) in dirs {
            add(
                &format!("{dir}/"),
                tar::EntryType::Directory,
                mode,
                &[],
                None,
            )?;
        }
        add("bin/busybox", tar::EntryType::Regular, 0o755, &binary, None)?;
        for applet in &applets {
            add(
                applet,
                tar::EntryType::Symlink,
                0o777,
                &[],
                Some("/bin/busybox"),
            )?;
        }
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n";
        let group = "root:x:0:\nnogroup:x:65534:\n";
        add(
            "etc/passwd",
            tar::EntryType::Regular,
            0o644,
            passwd.as_bytes(),
            None,
        )?;
        add(
            "etc/group",
            tar::EntryType::Regular,
            0o644,
            group.as_bytes(),
            None,
        )?;
        add(
            "etc/os-release",
            tar::EntryType::Regular,
            0o644,
            os_release.as_bytes(),
            None,
        )?;
        Ok(())
    };
    write().io("write", &tar_path)?;
    builder
        .into_inner()
        .and_then(|mut f| f.flush())
        .io("write", &tar_path)?;
    Ok(BuiltLayer {
        tar: tar_path,
        created: rfc3339(mtime),
        created_by: format!(
            "hull image bootstrap busybox (static busybox from {}, busybox-static)",
            busybox.display()
        ),
        cmd: Some("sh"),
    })
}

/// The base image's /etc/os-release (what `cat /etc/os-release` answers in any distribution
/// image), from busybox's banner line.
fn busybox_os_release(banner: &str) -> String {
    let version = banner
        .split_whitespace()
        .find_map(|word| word.strip_prefix('v'))
        .filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.') && !v.is_empty())
        .unwrap_or("unknown");
    format!(
        "NAME=\"BusyBox\"\nID=busybox\nVERSION_ID={version}\nPRETTY_NAME=\"BusyBox v{version} (hull base image)\"\nHOME_URL=\"https://busybox.net/\"\n"
    )
}

/// Whether `elf` is an ELF64 executable without a PT_INTERP program header (i.e. static; a
/// dynamic busybox would not run in the guest, which has no libc).
fn is_static_elf(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |off: usize| {
        elf.get(off..off + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |off: usize| {
        elf.get(off..off + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |off: usize| {
        elf.get(off..off + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if !elf.starts_with(b"\x7fELF") || elf.get(4) != Some(&2) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let entry = phoff.saturating_add(i.saturating_mul(usize::from(phentsize)));
        u32_at(entry).is_some_and(|t| t != PT_INTERP)
    })
}

/// scratch: a single empty layer (the guest's overlayfs needs at least one lower layer).
fn scratch_layer(work: &WorkDir) -> Result<BuiltLayer> {
    let tar_path = work.path().join("scratch-layer.tar");
    let builder = tar::Builder::new(File::create(&tar_path).io("create", &tar_path)?);
    builder
        .into_inner()
        .and_then(|mut f| f.flush())
        .io("write", &tar_path)?;
    Ok(BuiltLayer {
        tar: tar_path,
        created: rfc3339(0),
        created_by: "hull image bootstrap scratch (empty layer)".into(),
        cmd: None,
    })
}

/// debian:bookworm: `debootstrap --variant=minbase` from the host's Debian mirror, trimmed
/// like Docker's debian images (no device nodes, apt lists or caches, host resolv.conf).
fn debian_layer(work: &WorkDir, progress: &dyn Progress) -> Result<BuiltLayer> {
    let target = work.path().join("debian-rootfs");
    let mirror = debian_mirror();
    let args = ["--variant=minbase", "bookworm"];
    progress.start(&format!("debootstrap bookworm from {mirror}"), None);
    let (reader, writer) = io::pipe().io("create pipe for", "debootstrap")?;
    let mut child = {
        let mut cmd = work.tool_command("debootstrap");
        cmd.args(args)
            .arg(&target)
            .arg(&mirror)
            .stdin(Stdio::null())
            .stdout(writer.try_clone().io("create pipe for", "debootstrap")?)
            .stderr(writer);
        cmd.spawn()
            .map_err(|e| tool_spawn_error("debootstrap", "debootstrap", e))?
    };
    let mut tail: Vec<String> = Vec::new();
    for line in BufReader::new(reader).lines() {
        let line = line.io("read output of", "debootstrap")?;
        progress.message(&line);
        tail.push(line);
        if tail.len() > 8 {
            tail.remove(0);
        }
    }
    let status = child.wait().io("wait for", "debootstrap")?;
    progress.finish();
    if !status.success() {
        return Err(StoreError::ToolFailed {
            command: format!(
                "debootstrap {} {} {mirror}",
                args.join(" "),
                target.display()
            ),
            status: status.to_string(),
            stderr: tail.join(" | "),
        });
    }
    for trim in ["dev", "var/lib/apt/lists", "var/cache/apt/archives", "run"] {
        empty_dir(&target.join(trim))?;
    }
    for file in [
        "etc/resolv.conf",
        "etc/hostname",
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
    ] {
        remove_any(&target.join(file))?;
    }
    let tar_path = work.path().join("debian-layer.tar");
    progress.message("packing the root filesystem");
    tar_directory(&target, &tar_path)?;
    remove_any(&target)?;
    Ok(BuiltLayer {
        tar: tar_path,
        created: now_rfc3339(),
        created_by: format!("debootstrap --variant=minbase bookworm {mirror}"),
        cmd: Some("bash"),
    })
}

/// Removes everything inside `dir` (files only at the top level and below), keeping `dir`.
fn empty_dir(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry.io("list", dir)?.path();
        if path
            .file_name()
            .is_some_and(|n| n == "partial" || n == "lock")
        {
            continue;
        }
        remove_any(&path)?;
    }
    Ok(())
}

/// The Debian mirror: HULL_DEBIAN_MIRROR, else the first bookworm `deb` source of apt's
/// configuration (deb822 `.sources` or one-line `sources.list`), else deb.debian.org.
fn debian_mirror() -> String {
    if let Ok(m) = std::env::var("HULL_DEBIAN_MIRROR") {
        return m;
    }
    let mut files: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.insert(0, PathBuf::from("/etc/apt/sources.list"));
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        if file.extension().is_some_and(|e| e == "sources") {
            for stanza in text.split("\n\n") {
                let field = |name: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                };
                let suites = field("Suites:").unwrap_or_default();
                if suites.split_whitespace().any(|s| s == "bookworm") {
                    if let Some(uri) =
                        field("URIs:").and_then(|u| u.split_whitespace().next().map(str::to_owned))
                    {
                        return uri;
                    }
                }
            }
        } else if file.extension().is_some_and(|e| e == "list") {
            for line in text.lines() {
                let words: Vec<&str> = line
                    .split_whitespace()
                    .filter(|w| !w.starts_with('['))
                    .collect();
                if words.len() >= 3 && words[0] == "deb" && words[2] == "bookworm" {
                    return words[1].to_owned();
                }
            }
        }
    }
    "http://deb.debian.org/debian".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_names_the_busybox_version() {
        let text = busybox_os_release(
            "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\nUsage: ...",
        );
        assert!(text.contains("ID=busybox\n"), "{text}");
        assert!(text.contains("VERSION_ID=1.35.0\n"), "{text}");
        assert!(busybox_os_release("garbage").contains("VERSION_ID=unknown\n"));
    }

    #[test]
    fn static_elf_detection() {
        let static_busybox = BUSYBOX_CANDIDATES.iter().find_map(|p| fs::read(p).ok());
        if let Some(bytes) = static_busybox {
            assert!(is_static_elf(&bytes));
        }
        assert!(!is_static_elf(&fs::read("/bin/ls").unwrap_or_default()));
        assert!(!is_static_elf(b"\x7fELF"));
    }

    #[test]
    fn base_images_are_recognized_by_reference() {
        assert_eq!(
            BaseImage::for_reference("busybox"),
            Some(BaseImage::Busybox)
        );
        assert_eq!(
            BaseImage::for_reference("docker.io/library/busybox:latest"),
            Some(BaseImage::Busybox)
        );
        assert_eq!(
            BaseImage::for_reference("debian:bookworm"),
            Some(BaseImage::DebianBookworm)
        );
        assert_eq!(
            BaseImage::for_reference("scratch"),
            Some(BaseImage::Scratch)
        );
        for untagged_or_aliased in ["debian", "debian:latest", "debian:12"] {
            assert_eq!(
                BaseImage::for_reference(untagged_or_aliased),
                Some(BaseImage::DebianBookworm),
                "{untagged_or_aliased}"
            );
        }
        assert_eq!(BaseImage::for_reference("debian:trixie"), None);
        assert_eq!(BaseImage::for_reference("alpine"), None);
    }
}
