//! The build context: a host directory read under its `.dockerignore`. COPY and ADD name
//! sources in it (globs as Go's `filepath.Match`, one component at a time); nothing outside
//! it is ever read: `..` that leaves it is refused and symlinks are copied as links, never
//! followed. A content digest of the sources keys the step's cache.

use super::ignore::{clean, glob_regex, IgnoreRules};
use crate::error::{Error, Result};
use regex::Regex;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A build context directory.
pub struct Context {
    root: PathBuf,
    ignore: IgnoreRules,
}

/// A COPY source found in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSource {
    /// Relative to the context root (`.` for the root itself).
    pub relative: String,
    /// A directory (its contents are copied).
    pub is_dir: bool,
}

impl ContextSource {
    /// The name a file source keeps at its destination.
    pub fn base_name(&self) -> &str {
        self.relative.rsplit('/').next().unwrap_or(&self.relative)
    }
}

fn build_error(message: impl Into<String>) -> Error {
    Error::Build(message.into())
}

impl Context {
    /// The context at `root`, with its `.dockerignore` if it has one.
    pub fn open(root: &Path) -> Result<Self> {
        let root = fs::canonicalize(root).map_err(|e| {
            build_error(format!(
                "unable to prepare context: path {:?} not found: {e}",
                root.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(build_error(format!(
                "unable to prepare context: context must be a directory: {}",
                root.display()
            )));
        }
        let ignore = match fs::read_to_string(root.join(".dockerignore")) {
            Ok(text) => IgnoreRules::parse(&text).map_err(build_error)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => IgnoreRules::default(),
            Err(e) => return Err(build_error(format!("cannot read .dockerignore: {e}"))),
        };
        Ok(Self { root, ignore })
    }

    /// The host path of `relative`.
    pub fn path(&self, relative: &str) -> PathBuf {
        if relative == "." {
            self.root.clone()
        } else {
            self.root.join(relative)
        }
    }

    /// Whether `relative` is in the context as sent (not excluded by `.dockerignore`).
    fn included(&self, relative: &str) -> bool {
        relative == "." || !self.ignore.excludes(relative)
    }

    /// The sources `pattern` (expanded) names: a path, or a glob matched against every
    /// included path.
    pub fn resolve(&self, pattern: &str, verb: &str) -> Result<Vec<ContextSource>> {
        let relative = clean(pattern);
        if relative == ".." || relative.starts_with("../") {
            return Err(build_error(format!(
                "{verb} failed: forbidden path outside the build context: {pattern}"
            )));
        }
        let relative = if relative.is_empty() {
            ".".to_string()
        } else {
            relative
        };
        let not_found = || {
            build_error(format!(
                "{verb} failed: file not found in build context or excluded by .dockerignore: stat {relative}: file does not exist"
            ))
        };
        if !relative.contains(['*', '?', '[']) {
            let meta = fs::symlink_metadata(self.path(&relative)).map_err(|_| not_found())?;
            if !self.included(&relative) {
                return Err(not_found());
            }
            return Ok(vec![ContextSource {
                relative,
                is_dir: meta.is_dir(),
            }]);
        }
        let regex = Regex::new(&glob_regex(&relative, false))
            .map_err(|e| build_error(format!("{verb}: bad pattern {pattern:?}: {e}")))?;
        let mut found = Vec::new();
        for (path, meta) in self.walk(".")? {
            if regex.is_match(&path) {
                found.push(ContextSource {
                    relative: path,
                    is_dir: meta.is_dir(),
                });
            }
        }
        // A matched directory brings its content: its matched children are not separate.
        let dirs: Vec<String> = found
            .iter()
            .filter(|s| s.is_dir)
            .map(|s| s.relative.clone())
            .collect();
        found.retain(|s| {
            !dirs
                .iter()
                .any(|d| s.relative.starts_with(&format!("{d}/")))
        });
        if found.is_empty() {
            return Err(not_found());
        }
        Ok(found)
    }

    /// Every included path under `relative` (itself excluded), sorted, with its metadata.
    pub fn walk(&self, relative: &str) -> Result<Vec<(String, fs::Metadata)>> {
        let mut out = Vec::new();
        let mut pending = vec![relative.to_string()];
        while let Some(dir) = pending.pop() {
            let host = self.path(&dir);
            let entries = fs::read_dir(&host)
                .map_err(|e| build_error(format!("cannot read {}: {e}", host.display())))?;
            for entry in entries {
                let entry = entry
                    .map_err(|e| build_error(format!("cannot read {}: {e}", host.display())))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = if dir == "." {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                if !self.included(&child) {
                    // An exception may re-include something below an excluded directory.
                    let meta = entry.metadata().map_err(|e| build_error(e.to_string()))?;
                    if meta.is_dir() {
                        pending.push(child);
                    }
                    continue;
                }
                let meta =
                    fs::symlink_metadata(entry.path()).map_err(|e| build_error(e.to_string()))?;
                if meta.is_dir() {
                    pending.push(child.clone());
                }
                out.push((child, meta));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// A digest of `sources`: every included path under them, its type, mode, size,
    /// link target and content (not its times or owner: COPY sets the owner, and a touched
    /// but unchanged file stays cached).
    pub fn digest(&self, sources: &[ContextSource]) -> Result<String> {
        let mut hash = Sha256::new();
        for source in sources {
            let mut entries = vec![(
                source.relative.clone(),
                fs::symlink_metadata(self.path(&source.relative))
                    .map_err(|e| build_error(e.to_string()))?,
            )];
            if source.is_dir {
                entries.extend(self.walk(&source.relative)?);
            }
            for (path, meta) in entries {
                hash.update(path.as_bytes());
                hash.update([0]);
                hash.update(meta.permissions().mode().to_le_bytes());
                let host = self.path(&path);
                if meta.file_type().is_symlink() {
                    let target = fs::read_link(&host).map_err(|e| build_error(e.to_string()))?;
                    hash.update(target.as_os_str().as_encoded_bytes());
                } else if meta.is_file() {
                    hash.update(meta.len().to_le_bytes());
                    let mut file = fs::File::open(&host)
                        .map_err(|e| build_error(format!("cannot read {}: {e}", host.display())))?;
                    let mut buffer = vec![0; 1 << 16];
                    loop {
                        let n = file
                            .read(&mut buffer)
                            .map_err(|e| build_error(e.to_string()))?;
                        if n == 0 {
                            break;
                        }
                        hash.update(&buffer[..n]);
                    }
                }
                hash.update([0xff]);
            }
        }
        Ok(format!("sha256:{:x}", hash.finalize()))
    }
}

/// Whether `bytes` start with a tar header (a context sent as a tar, `docker build - <
/// context.tar`), possibly compressed.
pub fn is_tar(bytes: &[u8]) -> bool {
    let mut head = Vec::new();
    let decoder: Box<dyn Read + '_> = match bytes {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        _ => Box::new(bytes),
    };
    let _ = decoder.take(512).read_to_end(&mut head);
    head.len() == 512 && &head[257..262] == b"ustar"
}

/// Unpacks a context tar (plain or gzip) into the empty directory `dir`, with the checks
/// of any untrusted tar (no escaping paths or links, bounded size).
pub fn unpack_context(input: impl Read, dir: &Path) -> Result<()> {
    let mut buffered = std::io::BufReader::new(input);
    let gzip = std::io::BufRead::fill_buf(&mut buffered)
        .map_err(|e| build_error(format!("cannot read the context: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let limits = hull_rootfs::ExtractLimits {
        max_bytes: CONTEXT_MAX_BYTES,
        max_entries: 1 << 20,
    };
    let mut extractor = hull_rootfs::Extractor::new(dir, Default::default(), limits);
    let bad = |e: hull_rootfs::ExtractError| {
        build_error(format!("the build context tar is refused: {e}"))
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| build_error(format!("the build context is not a tar: {e}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| build_error(format!("the build context tar is corrupt: {e}")))?;
        extractor.extract(entry).map_err(bad)?;
    }
    extractor.finish().map_err(bad)
}

/// The most content a context tar may hold.
const CONTEXT_MAX_BYTES: u64 = 16 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("src/sub")).unwrap();
        fs::write(root.join("src/a.rs"), "a").unwrap();
        fs::write(root.join("src/sub/b.rs"), "b").unwrap();
        fs::write(root.join("notes.md"), "n").unwrap();
        fs::write(root.join("app.log"), "l").unwrap();
        fs::write(root.join(".dockerignore"), "*.log\n").unwrap();
        let context = Context::open(root).unwrap();
        (dir, context)
    }

    #[test]
    fn sources_resolve_by_path_and_glob_under_dockerignore() {
        let (_dir, context) = context();
        let found = context.resolve("src", "COPY").unwrap();
        assert_eq!(
            found,
            [ContextSource {
                relative: "src".into(),
                is_dir: true
            }]
        );
        let found = context.resolve("*.md", "COPY").unwrap();
        assert_eq!(found[0].relative, "notes.md");
        assert!(context.resolve("src/*.rs", "COPY").unwrap().len() == 1);
        let e = context.resolve("app.log", "COPY").unwrap_err().to_string();
        assert!(e.contains("excluded by .dockerignore"), "{e}");
        let e = context
            .resolve("../etc/passwd", "COPY")
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the build context"), "{e}");
        assert!(context.resolve("nothing*", "COPY").is_err());
    }

    #[test]
    fn a_context_tar_unpacks_and_an_escaping_one_is_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(7);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, "Dockerfile", &b"FROM x\n"[..])
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        assert!(is_tar(&bytes));
        assert!(!is_tar(b"FROM busybox\n"));
        let dir = tempfile::tempdir().unwrap();
        unpack_context(&bytes[..], dir.path()).unwrap();
        assert!(dir.path().join("Dockerfile").exists());

        let mut evil = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        evil.append(&header, &b"x"[..]).unwrap();
        let bytes = evil.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack_context(&bytes[..], dir.path()).is_err());
        assert!(!dir.path().parent().unwrap().join("escape").exists());
    }

    #[test]
    fn the_digest_follows_content_not_times() {
        let (dir, context) = context();
        let sources = context.resolve("src", "COPY").unwrap();
        let before = context.digest(&sources).unwrap();
        let file = dir.path().join("src/sub/b.rs");
        let times = fs::FileTimes::new().set_modified(std::time::SystemTime::UNIX_EPOCH);
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_times(times)
            .unwrap();
        assert_eq!(context.digest(&sources).unwrap(), before);
        fs::write(&file, "changed").unwrap();
        assert_ne!(context.digest(&sources).unwrap(), before);
    }
}
