//! Shared helpers for hull-rootfs integration tests: privilege checks, loop mounts, and
//! building docker-save / OCI layout tarballs with the `tar` crate.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use sha2::{Digest, Sha256};

/// Whether we are root; tests needing it print why and skip otherwise.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Prints a skip reason and returns true when not root.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIP {test}: needs root (chown, mknod, trusted.* xattrs, mount)");
    true
}

pub fn sha256(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// A read-only mount that is unmounted on drop.
pub struct Mount {
    pub dir: PathBuf,
}

impl Mount {
    pub fn run(args: &[&str]) -> Result<()> {
        let out = Command::new("mount")
            .args(args)
            .output()
            .context("run mount")?;
        ensure!(
            out.status.success(),
            "mount {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Loop-mounts a block image read-only.
    pub fn image(image: &Path, fstype: &str, dir: &Path) -> Result<Mount> {
        fs::create_dir_all(dir)?;
        Self::run(&[
            "-t",
            fstype,
            "-o",
            "loop,ro",
            image.to_str().unwrap(),
            dir.to_str().unwrap(),
        ])?;
        Ok(Mount {
            dir: dir.to_owned(),
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// One tar entry for test layers.
pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Fifo(&'a str),
}

/// Builds a layer tar from entries (raw names: hostile ones are written verbatim).
pub fn layer_tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            let (name, data, kind, link): (&str, &[u8], tar::EntryType, Option<&str>) = match *e {
                E::Dir(n) => (n, &[], tar::EntryType::Directory, None),
                E::File(n, d) => (n, d, tar::EntryType::Regular, None),
                E::Symlink(n, t) => (n, &[], tar::EntryType::Symlink, Some(t)),
                E::Hardlink(n, t) => (n, &[], tar::EntryType::Link, Some(t)),
                E::Char(n, ma, mi) => {
                    h.set_device_major(ma).unwrap();
                    h.set_device_minor(mi).unwrap();
                    (n, &[], tar::EntryType::Char, None)
                }
                E::Fifo(n) => (n, &[], tar::EntryType::Fifo, None),
            };
            h.set_entry_type(kind);
            h.set_mode(if kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_size(data.len() as u64);
            // Write names raw (bypassing the tar crate's own `..`/absolute checks) so hostile
            // entries really reach hull.
            set_raw_name(&mut h, name);
            if let Some(t) = link {
                set_raw_link(&mut h, t);
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.finish().unwrap();
    }
    out
}

fn set_raw_name(h: &mut tar::Header, name: &str) {
    let field = &mut h.as_old_mut().name;
    assert!(name.len() < field.len(), "test names must be short");
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

fn set_raw_link(h: &mut tar::Header, link: &str) {
    let field = &mut h.as_old_mut().linkname;
    field.fill(0);
    field[..link.len()].copy_from_slice(link.as_bytes());
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A minimal image config for `diff_ids`.
pub fn config_json(diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": { "Cmd": ["sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": diff_ids.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Layer blobs as stored in an archive: (blob bytes, diff_id of the uncompressed tar).
pub struct TestLayer {
    pub blob: Vec<u8>,
    pub diff_id: String,
}

impl TestLayer {
    pub fn plain(tar: Vec<u8>) -> Self {
        TestLayer {
            diff_id: sha256(&tar),
            blob: tar,
        }
    }

    pub fn gzipped(tar: Vec<u8>) -> Self {
        TestLayer {
            diff_id: sha256(&tar),
            blob: gzip(&tar),
        }
    }
}

fn append(b: &mut tar::Builder<&mut Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data).unwrap();
}

/// A legacy `docker save` tarball (`<id>/layer.tar`, `<hex>.json`, `manifest.json`).
pub fn docker_save_tar(tag: &str, layers: &[TestLayer]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = config_json(&diff_ids);
    let config_name = format!("{}.json", &sha256(&config)[7..]);
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        let mut layer_names = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let name = format!("{i:064x}/layer.tar");
            append(&mut b, &name, &l.blob);
            layer_names.push(name);
        }
        append(&mut b, &config_name, &config);
        let manifest = serde_json::json!([{ "Config": config_name, "RepoTags": [tag], "Layers": layer_names }]);
        append(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        b.finish().unwrap();
    }
    out
}

/// An OCI image layout tar. `tamper` may corrupt blobs after their digests are recorded.
pub fn oci_layout_tar(
    name: &str,
    layers: &[TestLayer],
    tamper: impl Fn(&str, &mut Vec<u8>),
) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = config_json(&diff_ids);
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|l| {
            let media = if l.blob.starts_with(&[0x1f, 0x8b]) {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            };
            serde_json::json!({"mediaType": media, "digest": sha256(&l.blob), "size": l.blob.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(&manifest), "size": manifest.len(),
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"}
        }]
    }))
    .unwrap();
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        append(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        let mut blobs: Vec<Vec<u8>> = vec![config, manifest];
        blobs.extend(layers.iter().map(|l| l.blob.clone()));
        for mut blob in blobs {
            let digest = sha256(&blob);
            tamper(&digest, &mut blob);
            append(&mut b, &format!("blobs/sha256/{}", &digest[7..]), &blob);
        }
        append(&mut b, "index.json", &index);
        b.finish().unwrap();
    }
    out
}

/// Everything under `dir` as sorted relative paths with a type marker, for tree comparisons.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            out.push(format!("{rel}/"));
            walk(root, &path, out);
        } else if ft.is_symlink() {
            out.push(format!(
                "{rel} -> {}",
                fs::read_link(&path).unwrap().display()
            ));
        } else {
            out.push(rel);
        }
    }
}

/// GNU base-256 number field (for values beyond octal's 8 GiB).
fn base256(field: &mut [u8], value: u64) {
    field.fill(0);
    field[0] = 0x80;
    let n = field.len();
    field[n - 8..].copy_from_slice(&value.to_be_bytes());
}

/// A layer with one GNU sparse file claiming `real_size` bytes while storing only 512.
pub fn sparse_bomb_tar(real_size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(512);
        set_raw_name(&mut h, "bomb");
        {
            let gnu = h.as_gnu_mut().unwrap();
            base256(&mut gnu.realsize, real_size);
            base256(&mut gnu.sparse[0].offset, real_size - 512);
            base256(&mut gnu.sparse[0].numbytes, 512);
        }
        h.set_cksum();
        b.append(&h, &[7u8; 512][..]).unwrap();
        b.finish().unwrap();
    }
    out
}

/// One PAX record: `"<len> key=value\n"` where len counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body_len + 1;
    while len != body_len + len.to_string().len() {
        len = body_len + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// A layer with one file carrying owner, mode, a nanosecond mtime and xattrs via PAX.
pub fn layer_with_metadata(
    name: &str,
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: &str,
    xattrs: &[(&str, &[u8])],
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        let mut records = pax_record("mtime", mtime.as_bytes());
        for (k, v) in xattrs {
            records.extend(pax_record(&format!("SCHILY.xattr.{k}"), v));
        }
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_mode(0o644);
        set_raw_name(&mut pax, "PaxHeaders/f");
        pax.set_cksum();
        b.append(&pax, &records[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mode(mode);
        h.set_mtime(1);
        h.set_size(4);
        set_raw_name(&mut h, name);
        h.set_cksum();
        b.append(&h, &b"data"[..]).unwrap();
        b.finish().unwrap();
    }
    out
}
