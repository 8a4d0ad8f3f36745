//! Images built here are checked and extracted by erofs-utils' own `fsck.erofs` (never
//! mounted on the host), and what comes out is compared with what went in.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use std::fs::{self, File};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use hull_erofs::{DeviceKind, FinishOptions, ImageBuilder, Metadata};

fn meta(permissions: u16, uid: u32, mtime: i64) -> Metadata {
    Metadata {
        permissions,
        uid,
        gid: uid + 1,
        mtime,
        mtime_nsec: 0,
        xattrs: Vec::new(),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            u8::try_from(i % 251)
                .unwrap()
                .wrapping_mul(31)
                .wrapping_add(seed)
        })
        .collect()
}

fn have_fsck() -> bool {
    Command::new("fsck.erofs").arg("-V").output().is_ok()
}

/// Builds an image with every kind of inode and layout and returns its path.
fn build(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("image.erofs");
    let file = File::options()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut b = ImageBuilder::new(file, meta(0o755, 0, 1_000_000));
    let root = b.root();
    for (name, len, seed) in [
        ("empty", 0usize, 0u8),
        ("one", 1, 1),
        ("below-block", 4095, 2),
        ("block", 4096, 3),
        ("above-block", 4097, 4),
        ("big", 300_000, 5),
    ] {
        let (file, size) = b
            .add_file(meta(0o644, 7, 2_000_000), &pattern(len, seed)[..])
            .unwrap();
        assert_eq!(size, len as u64);
        b.link(root, name.as_bytes(), file).unwrap();
    }
    let zeros = vec![0u8; 1 << 20];
    let (holes, _) = b.add_file(meta(0o600, 0, 0), &zeros[..]).unwrap();
    b.link(root, b"zeros", holes).unwrap();
    let (setuid, _) = b.add_file(meta(0o4755, 0, 5), &b"#!/bin/sh\n"[..]).unwrap();
    b.link(root, b"setuid", setuid).unwrap();

    let sub = b.add_directory(meta(0o700, 3, 3_000_000));
    b.link(root, b"sub", sub).unwrap();
    let deeper = b.add_directory(meta(0o755, 0, 4));
    b.link(sub, b"deeper", deeper).unwrap();
    let (shared, _) = b.add_file(meta(0o640, 9, 9), &b"linked twice"[..]).unwrap();
    b.link(deeper, b"first", shared).unwrap();
    b.link(root, b"second", shared).unwrap();
    let short = b.add_symlink(meta(0o777, 0, 0), b"../one").unwrap();
    b.link(sub, b"short-link", short).unwrap();
    let long_target = "x/".repeat(1500);
    let long = b
        .add_symlink(meta(0o777, 0, 0), long_target.as_bytes())
        .unwrap();
    b.link(sub, b"long-link", long).unwrap();

    let chr = b.add_device(meta(0o666, 0, 0), DeviceKind::Character, 1, 3);
    b.link(root, b"null", chr).unwrap();
    let blk = b.add_device(meta(0o660, 0, 0), DeviceKind::Block, 8, 0x123);
    b.link(root, b"disk", blk).unwrap();
    let fifo = b.add_device(meta(0o644, 0, 0), DeviceKind::Fifo, 0, 0);
    b.link(root, b"fifo", fifo).unwrap();

    // A directory of several blocks of entries, with names sorting around "." and "..".
    let many = b.add_directory(meta(0o755, 0, 0));
    b.link(root, b"many", many).unwrap();
    for i in 0..600 {
        let name = format!(
            "{}{i:04}-{}",
            if i % 3 == 0 { "-" } else { "n" },
            "long".repeat(10)
        );
        let (f, _) = b.add_file(meta(0o644, 0, 0), name.as_bytes()).unwrap();
        b.link(many, name.as_bytes(), f).unwrap();
    }

    // xattrs, one so large that the small file's content cannot be inline.
    let mut with_xattrs = meta(0o644, 0, 0);
    with_xattrs.xattrs = vec![
        (b"user.comment".to_vec(), b"hello".to_vec()),
        (
            b"security.capability".to_vec(),
            vec![
                1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ),
    ];
    let (cap, _) = b.add_file(with_xattrs, &b"ping"[..]).unwrap();
    b.link(root, b"ping", cap).unwrap();
    let mut huge_xattr = meta(0o644, 0, 0);
    huge_xattr.xattrs = vec![(b"user.big".to_vec(), vec![b'v'; 4000])];
    let (crowded, _) = b.add_file(huge_xattr, &b"not inline"[..]).unwrap();
    b.link(root, b"crowded", crowded).unwrap();
    let opaque = b.add_directory(Metadata {
        xattrs: vec![(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())],
        ..meta(0o755, 0, 0)
    });
    b.link(root, b"opaque", opaque).unwrap();

    // Replaced and unlinked names leave nothing behind.
    let (gone, _) = b.add_file(meta(0o644, 0, 0), &b"old"[..]).unwrap();
    b.link(root, b"replaced", gone).unwrap();
    let (new, _) = b.add_file(meta(0o644, 0, 0), &b"new"[..]).unwrap();
    assert_eq!(b.link(root, b"replaced", new).unwrap(), Some(gone));
    b.link(root, b"removed", gone).unwrap();
    assert_eq!(b.unlink(root, b"removed"), Some(gone));

    let summary = b
        .finish(&FinishOptions {
            uuid: [7; 16],
            build_time: 4_102_444_800,
        })
        .unwrap();
    assert_eq!(summary.bytes, fs::metadata(&path).unwrap().len());
    path
}

#[test]
fn fsck_erofs_extracts_what_was_put_in() {
    if !have_fsck() {
        eprintln!("SKIPPED fsck_erofs_extracts_what_was_put_in: no fsck.erofs (erofs-utils)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = build(dir.path());
    if let Ok(keep) = std::env::var("HULL_EROFS_KEEP_IMAGE") {
        fs::copy(&image, keep).unwrap();
    }
    let out = dir.path().join("out");
    let status = Command::new("fsck.erofs")
        .arg(format!("--extract={}", out.display()))
        .arg("--preserve")
        .arg(&image)
        .status()
        .unwrap();
    assert!(status.success(), "fsck.erofs rejected the image");

    for (name, len, seed) in [
        ("empty", 0usize, 0u8),
        ("one", 1, 1),
        ("below-block", 4095, 2),
        ("block", 4096, 3),
        ("above-block", 4097, 4),
        ("big", 300_000, 5),
    ] {
        assert_eq!(
            fs::read(out.join(name)).unwrap(),
            pattern(len, seed),
            "{name}"
        );
        let m = fs::metadata(out.join(name)).unwrap();
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
            (0o644, 7, 8, 2_000_000)
        );
    }
    assert_eq!(fs::read(out.join("zeros")).unwrap(), vec![0u8; 1 << 20]);
    // fsck.erofs chowns after chmod, which clears set-id bits: see dump.erofs below.
    assert_eq!(
        fs::metadata(out.join("setuid")).unwrap().mode() & 0o777,
        0o755
    );
    let sub = fs::metadata(out.join("sub")).unwrap();
    assert_eq!(
        (sub.mode() & 0o7777, sub.uid(), sub.mtime()),
        (0o700, 3, 3_000_000)
    );
    assert_eq!(
        fs::read(out.join("sub/deeper/first")).unwrap(),
        b"linked twice"
    );
    assert_eq!(fs::read(out.join("second")).unwrap(), b"linked twice");
    assert_eq!(
        fs::read_link(out.join("sub/short-link")).unwrap(),
        Path::new("../one")
    );
    assert_eq!(
        fs::read_link(out.join("sub/long-link")).unwrap(),
        Path::new(&"x/".repeat(1500))
    );
    let null = fs::symlink_metadata(out.join("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix_dev(1, 3));
    let disk = fs::symlink_metadata(out.join("disk")).unwrap();
    assert!(disk.file_type().is_block_device());
    assert_eq!(disk.rdev(), rustix_dev(8, 0x123));
    assert!(fs::symlink_metadata(out.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let mut names: Vec<_> = fs::read_dir(out.join("many"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 600);
    for name in &names {
        assert_eq!(
            fs::read(out.join("many").join(name)).unwrap(),
            name.as_encoded_bytes()
        );
    }
    assert_eq!(fs::read(out.join("ping")).unwrap(), b"ping");
    assert_eq!(fs::read(out.join("crowded")).unwrap(), b"not inline");
    assert_eq!(fs::read(out.join("replaced")).unwrap(), b"new");
    assert!(!out.join("removed").exists());
    assert_eq!(raw_mode(&image, "/setuid"), 0o104755);
    // fsck.erofs extracts hard links as copies: the image itself has one inode, two links.
    let (first, second) = (dump(&image, "/sub/deeper/first"), dump(&image, "/second"));
    assert_eq!(number_after(&first, "NID:"), number_after(&second, "NID:"));
    assert_eq!(number_after(&first, "Links:"), 2);
    let mut top: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top.len(), 18, "{top:?}");
}

/// The on-disk `i_mode` of `path`, found with dump.erofs and read from the image.
fn raw_mode(image: &Path, path: &str) -> u16 {
    let meta_block = number_after(&dump_args(image, &["-s"]), "inode metadata start block:");
    let nid = number_after(&dump(image, path), "NID:");
    let bytes = fs::read(image).unwrap();
    let at = usize::try_from(meta_block * 4096 + nid * 32 + 4).unwrap();
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// dump.erofs's description of `path` in `image`.
fn dump(image: &Path, path: &str) -> String {
    dump_args(image, &[&format!("--path={path}")])
}

fn dump_args(image: &Path, args: &[&str]) -> String {
    let out = Command::new("dump.erofs")
        .args(args)
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "dump.erofs {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The number after `label` in dump.erofs's output.
fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        + label.len();
    text[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// glibc's makedev.
fn rustix_dev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}
