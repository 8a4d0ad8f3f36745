//! COPY and ADD: sources from the context (or `--from` a stage or image, exported by a
//! helper VM), placed by Docker's rules (a directory's content goes into the destination;
//! a file goes into it when it ends in `/` or is a directory, else becomes it), missing
//! parents created, owner and mode from `--chown` and `--chmod`. ADD extracts a local tar
//! archive (plain, gzip or zstd) and refuses URLs: hull builds offline.

use super::cache::BuildCache;
use super::context::ContextSource;
use super::dockerfile::CopySpec;
use super::import_tar::{ImportTar, Ownership};
use super::stage::{commit_info, StageBuilder};
use super::vm::BuildVm;
use crate::containers::{CopyOptions, CopyTarget, CreateRequest};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};

/// Where a COPY's files come from.
enum Sources {
    Context(Vec<ContextSource>),
    /// Paths in another stage's or an image's filesystem, exported as tars.
    Image {
        image: String,
        paths: Vec<String>,
    },
}

fn build_error(message: impl Into<String>) -> Error {
    Error::Build(message.into())
}

/// Runs a COPY or ADD step; the new image.
pub(super) fn copy(
    stage: &mut StageBuilder<'_, '_>,
    spec: &CopySpec,
    text: &str,
) -> Result<String> {
    let verb = if spec.add { "ADD" } else { "COPY" };
    let patterns = spec
        .sources
        .iter()
        .map(|s| stage.expand(s))
        .collect::<Result<Vec<_>>>()?;
    if let Some(url) = patterns.iter().find(|p| p.contains("://")) {
        return Err(build_error(if spec.add {
            format!("ADD {url}: hull build does not download (it builds offline): fetch the file into the build context and COPY it")
        } else {
            format!("COPY failed: source can't be a URL for COPY: {url}")
        }));
    }
    let dest_raw = stage.expand(&spec.dest)?;
    let workdir = stage.config.working_dir().clone().unwrap_or_default();
    let dest = absolute(&dest_raw, &workdir);
    let dest_is_dir_syntax = dest_raw.ends_with('/') || dest_raw.ends_with("/.") || dest_raw == ".";
    let chmod = match &spec.chmod {
        Some(mode) => Some(
            u32::from_str_radix(&stage.expand(mode)?, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| build_error(format!("{verb} --chmod={mode}: not an octal mode")))?,
        ),
        None => None,
    };
    let chown = spec.chown.as_ref().map(|c| stage.expand(c)).transpose()?;
    let from = spec.from.as_ref().map(|f| stage.expand(f)).transpose()?;
    let sources = match &from {
        None => {
            let mut found = Vec::new();
            for pattern in &patterns {
                found.extend(stage.build.context.resolve(pattern, verb)?);
            }
            Sources::Context(found)
        }
        Some(from) => {
            if let Some(glob) = patterns.iter().find(|p| p.contains(['*', '?', '['])) {
                return Err(build_error(format!(
                    "{verb} --from: wildcards are not supported by hull build: {glob}"
                )));
            }
            let image = match stage.build.stage_named(from) {
                Some(other) => stage
                    .build
                    .stage_images
                    .get(&other.index)
                    .cloned()
                    .ok_or_else(|| build_error(format!("stage {from:?} was not built")))?,
                None => {
                    let policy = stage.build.request.container.pull;
                    let images = &stage.build.images;
                    images.resolve_with(from, policy, stage.build.progress)?.id
                }
            };
            Sources::Image {
                image,
                paths: patterns.iter().map(|p| absolute(p, "/")).collect(),
            }
        }
    };
    let count = match &sources {
        Sources::Context(found) => found.len(),
        Sources::Image { paths, .. } => paths.len(),
    };
    if count > 1 && !dest_is_dir_syntax {
        return Err(build_error(format!(
            "When using {verb} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let digest = match &sources {
        Sources::Context(found) => stage.build.context.digest(found)?,
        Sources::Image { image, paths } => format!("{image} {}", paths.join(" ")),
    };
    let canonical = format!(
        "{verb} from={from:?} chown={chown:?} chmod={chmod:?} dest={dest} dir={dest_is_dir_syntax} workdir={workdir}"
    );
    let key = BuildCache::key(&[&stage.image.clone(), &canonical, &digest]);
    let created_by = format!("{text} # buildkit");
    let add = spec.add;
    stage.cached_or(&key, move |stage| {
        let exported = match &sources {
            Sources::Image { image, paths } => export(stage, image, paths)?,
            Sources::Context(_) => Vec::new(),
        };
        let mut vm = stage.take_vm()?;
        let placed: Result<()> = (|| {
            let ownership = Ownership {
                owner: owner(&vm, chown.as_deref())?,
                chmod,
            };
            let dest_stat = vm.stat(&dest)?;
            let into_dir = dest_is_dir_syntax || dest_stat.as_ref().is_some_and(|s| s.is_dir());
            let mut tar = ImportTar::new()?;
            let mut archives = Vec::new();
            match &sources {
                Sources::Context(found) => {
                    for source in found {
                        let host = stage.build.context.path(&source.relative);
                        if add && !source.is_dir && is_archive(&host)? {
                            add_missing(&mut tar, &vm, &dest, ownership)?;
                            archives.push(host);
                            continue;
                        }
                        let target = placement(source.is_dir, source.base_name(), &dest, into_dir);
                        let parent = if source.is_dir {
                            target.clone()
                        } else {
                            parent_of(&target)
                        };
                        add_missing(&mut tar, &vm, &parent, ownership)?;
                        tar.context_source(stage.build.context, source, &target, ownership)?;
                    }
                }
                Sources::Image { .. } => {
                    for (path, archive, is_dir) in &exported {
                        let name = path.rsplit('/').next().unwrap_or(path);
                        let target = placement(*is_dir, name, &dest, into_dir);
                        let parent = if *is_dir {
                            target.clone()
                        } else {
                            parent_of(&target)
                        };
                        add_missing(&mut tar, &vm, &parent, ownership)?;
                        let mut file = archive.try_clone()?;
                        file.rewind()?;
                        tar.exported(file, *is_dir, &target, ownership)?;
                    }
                }
            }
            vm.extract(&mut tar.finish()?, "/")?;
            for archive in archives {
                let mut stream = decompressed(File::open(&archive)?)?;
                vm.extract(&mut stream, &dest)?;
            }
            Ok(())
        })();
        placed?;
        let image = vm.commit(&stage.image, &commit_info(&created_by))?.id;
        stage.vm = Some(vm);
        Ok(image)
    })
}

/// `path` made absolute against `base` (WORKDIR), cleaned, its trailing `/` dropped.
fn absolute(path: &str, base: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", base.trim_end_matches('/'))
    };
    format!("/{}", super::ignore::clean(&joined))
}

fn parent_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((parent, _)) => parent.to_string(),
    }
}

/// Where a source lands: a directory's content at `dest`; a file in `dest` when it is a
/// directory, else as `dest`.
fn placement(is_dir: bool, name: &str, dest: &str, into_dir: bool) -> String {
    if is_dir || !into_dir {
        dest.to_string()
    } else if dest == "/" {
        format!("/{name}")
    } else {
        format!("{dest}/{name}")
    }
}

/// The directories from `/` down to `path` (itself included) that do not exist yet.
pub(super) fn missing_dirs(vm: &BuildVm<'_>, path: &str) -> Result<Vec<String>> {
    let mut prefixes = Vec::new();
    let mut current = String::new();
    for component in path.split('/').filter(|c| !c.is_empty()) {
        current = format!("{current}/{component}");
        prefixes.push(current.clone());
    }
    // The first missing one: everything below it is missing too.
    for (at, prefix) in prefixes.iter().enumerate() {
        match vm.stat(prefix)? {
            Some(stat) if stat.is_dir() || stat.is_symlink() => continue,
            Some(_) => {
                return Err(build_error(format!(
                    "cannot copy to {path}: {prefix} is not a directory"
                )))
            }
            None => return Ok(prefixes[at..].to_vec()),
        }
    }
    Ok(Vec::new())
}

fn add_missing(
    tar: &mut ImportTar,
    vm: &BuildVm<'_>,
    path: &str,
    ownership: Ownership,
) -> Result<()> {
    let owner_only = Ownership {
        owner: ownership.owner,
        chmod: None,
    };
    for dir in missing_dirs(vm, path)? {
        tar.directory(&dir, owner_only)?;
    }
    Ok(())
}

/// `--chown=USER[:GROUP]`: numbers as they are, names from the image's /etc/passwd and
/// /etc/group; without a group, the gid is the uid (Docker's rule).
fn owner(vm: &BuildVm<'_>, chown: Option<&str>) -> Result<(u32, u32)> {
    let Some(chown) = chown.filter(|c| !c.is_empty()) else {
        return Ok((0, 0));
    };
    let (user, group) = match chown.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (chown, None),
    };
    let lookup = |name: &str, file: &str| -> Result<u32> {
        if let Ok(id) = name.parse() {
            return Ok(id);
        }
        let content = vm.read_file(file)?.unwrap_or_default();
        content
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                (fields.next() == Some(name)).then(|| fields.nth(1)?.parse().ok())?
            })
            .ok_or_else(|| {
                build_error(format!(
                    "--chown={chown}: no {name:?} in the image's {file}"
                ))
            })
    };
    let uid = lookup(user, "/etc/passwd")?;
    let gid = match group {
        Some(group) => lookup(group, "/etc/group")?,
        None => uid,
    };
    Ok((uid, gid))
}

/// Exports `paths` of `image` through a helper VM: each path, its tar and whether it is
/// a directory.
fn export(
    stage: &mut StageBuilder<'_, '_>,
    image: &str,
    paths: &[String],
) -> Result<Vec<(String, File, bool)>> {
    let containers = stage.build.containers;
    let request = CreateRequest {
        image: image.to_string(),
        entrypoint: Some(String::new()),
        command: vec!["hull-build".into()],
        hold: true,
        cold: false,
        pull: crate::images::PullPolicy::Never,
        ..stage.build.request.container.clone()
    };
    let source = containers.create(&request, stage.build.progress)?;
    stage.build.vms_booted += 1;
    let exported = (|| {
        let mut out = Vec::new();
        for path in paths {
            let mut file = tempfile::tempfile()?;
            containers.copy_from_container(
                &source.id,
                path,
                CopyTarget::Stream(&mut file),
                CopyOptions::default(),
            )?;
            file.rewind()?;
            let is_dir = {
                let mut archive = tar::Archive::new(&mut file);
                let first = archive.entries()?.next().transpose()?;
                first.is_some_and(|e| e.header().entry_type().is_dir())
            };
            file.rewind()?;
            out.push((path.clone(), file, is_dir));
        }
        Ok(out)
    })();
    let _ = containers.remove(&source.id, true);
    exported
}

/// Compression of a file by its first bytes.
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn sniff(head: &[u8]) -> Result<Compression> {
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b'B', b'Z', b'h', ..] | [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
            return Err(build_error(
                "ADD: bzip2 and xz archives are not supported by hull build: use a plain, gzip or zstd tar",
            ))
        }
        _ => Compression::None,
    })
}

fn decompressed(file: File) -> Result<Box<dyn Read>> {
    let mut reader = BufReader::new(file);
    let compression = sniff(reader.fill_buf()?)?;
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}

/// Whether ADD extracts `path`: a tar, possibly compressed (Docker's test: the
/// decompressed stream starts with a tar header).
fn is_archive(path: &std::path::Path) -> Result<bool> {
    let mut head = Vec::new();
    decompressed(File::open(path)?)?
        .take(512)
        .read_to_end(&mut head)?;
    Ok(head.len() == 512 && &head[257..262] == b"ustar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_dockers_rules() {
        assert_eq!(absolute("app/", "/srv"), "/srv/app");
        assert_eq!(absolute(".", "/srv"), "/srv");
        assert_eq!(absolute("/x/../y", "/srv"), "/y");
        assert_eq!(placement(false, "f", "/dst", true), "/dst/f");
        assert_eq!(placement(false, "f", "/dst", false), "/dst");
        assert_eq!(placement(true, "d", "/dst", true), "/dst");
        assert_eq!(placement(false, "f", "/", true), "/f");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
    }

    #[test]
    fn archives_are_recognised_through_their_compression() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        builder.append_data(&mut header, "f", &b"x"[..]).unwrap();
        let tar_bytes = builder.into_inner().unwrap();
        let plain = dir.path().join("a.tar");
        std::fs::write(&plain, &tar_bytes).unwrap();
        let gz = dir.path().join("a.tgz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &tar_bytes).unwrap();
        std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "just text").unwrap();
        assert!(is_archive(&plain).unwrap());
        assert!(is_archive(&gz).unwrap());
        assert!(!is_archive(&text).unwrap());
        let xz = dir.path().join("a.xz");
        std::fs::write(&xz, [0xfd, b'7', b'z', b'X', b'Z', 0, 1]).unwrap();
        assert!(is_archive(&xz).is_err());
    }
}
