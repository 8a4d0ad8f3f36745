//! Finding (or building) the kernel for a profile: `HULL_KERNEL`, else `build.sh`.

use crate::KernelProfile;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variable naming a vmlinux to use instead of building one (any profile).
pub const ENV_KERNEL: &str = "HULL_KERNEL";
/// Environment variable naming the directory holding `build.sh` (default: this crate's
/// source directory, `kernel-config/`).
pub const ENV_CONFIG_DIR: &str = "HULL_KERNEL_CONFIG_DIR";

/// The kernel files of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelArtifacts {
    /// ELF kernel with the PVH entry note: what hull-vmm and QEMU boot.
    pub vmlinux: PathBuf,
    /// Compressed kernel for loaders without PVH. May not exist when `HULL_KERNEL` names a
    /// lone vmlinux.
    pub bz_image: PathBuf,
    /// The directory holding them (and `config`, the final kernel `.config`, for builds).
    pub dir: PathBuf,
}

impl KernelArtifacts {
    /// The artifacts in a build output directory (`<cache>/kernel/<profile>-<hash>`).
    pub fn in_dir(dir: &Path) -> Self {
        KernelArtifacts {
            vmlinux: dir.join("vmlinux"),
            bz_image: dir.join("bzImage"),
            dir: dir.to_path_buf(),
        }
    }
}

/// Why no kernel could be provided.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactsError {
    /// `HULL_KERNEL` points at nothing.
    #[error("HULL_KERNEL={} does not exist: point it at a vmlinux or unset it to build one", .0.display())]
    OverrideMissing(PathBuf),
    /// build.sh could not be started.
    #[error("could not run {}: check HULL_KERNEL_CONFIG_DIR or set HULL_KERNEL to a vmlinux", .path.display())]
    Spawn {
        /// The script.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// build.sh failed; its stderr (already shown) says why.
    #[error("building the {profile} kernel failed (exit status {status}); see the messages above")]
    BuildFailed {
        /// The profile being built.
        profile: KernelProfile,
        /// build.sh's exit status.
        status: std::process::ExitStatus,
    },
    /// build.sh succeeded but its output directory has no vmlinux.
    #[error("build.sh reported '{}' but it holds no vmlinux: remove that directory and retry", .0.display())]
    NoVmlinux(PathBuf),
}

/// The kernel for `profile`: `HULL_KERNEL` if set, else the cached build, building it first
/// if needed (minutes; build.sh's progress goes to this process's stderr).
pub fn ensure_kernel(profile: KernelProfile) -> Result<KernelArtifacts, ArtifactsError> {
    if let Some(vmlinux) = std::env::var_os(ENV_KERNEL).filter(|v| !v.is_empty()) {
        return from_override(PathBuf::from(vmlinux));
    }
    let script = build_script();
    let source_env = std::env::var(ENV_SOURCE).unwrap_or_default();
    if let Some(artifacts) = memo_lookup(&cache_root(), &script, profile, &source_env) {
        return Ok(artifacts);
    }
    run_build_script(&script, profile, &[])
}

/// Environment variable naming the cache root (build.sh's `HULL_CACHE`).
const ENV_CACHE: &str = "HULL_CACHE";
/// build.sh's HULL_KERNEL_SOURCE: part of the memo, since it changes the build.
const ENV_SOURCE: &str = "HULL_KERNEL_SOURCE";

/// build.sh's `$CACHE_ROOT`.
fn cache_root() -> PathBuf {
    std::env::var_os(ENV_CACHE)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/var/cache/hull"), PathBuf::from)
        .join("kernel")
}

/// `size mtime` of `path` exactly as build.sh records it (`stat -L -c '%s %.9Y'`).
fn size_and_mtime(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(format!(
        "{} {}.{:09}",
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    ))
}

/// The build named by the memo build.sh leaves in `<cache>/<profile>.lookup`, if it still
/// holds: same script, same HULL_KERNEL_SOURCE, every input file with the size and mtime it
/// had then, and the vmlinux present. Any doubt returns `None` and build.sh decides.
fn memo_lookup(
    cache: &Path,
    script: &Path,
    profile: KernelProfile,
    source_env: &str,
) -> Option<KernelArtifacts> {
    let memo = std::fs::read_to_string(cache.join(format!("{}.lookup", profile.as_str()))).ok()?;
    let mut lines = memo.lines();
    if lines.next()? != "hull-kernel-lookup 1" {
        return None;
    }
    let mut dir = None;
    let mut inputs = 0;
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "dir" => dir = Some(PathBuf::from(value)),
            "script" if Path::new(value) == script => {}
            "source-env" if value == source_env => {}
            "input" => {
                // `input <size> <mtime> <path>`: the path may hold spaces, size and mtime not.
                let mut fields = value.splitn(3, ' ');
                let (size, mtime, path) = (fields.next()?, fields.next()?, fields.next()?);
                if size_and_mtime(Path::new(path))? != format!("{size} {mtime}") {
                    return None;
                }
                inputs += 1;
            }
            _ => return None,
        }
    }
    let artifacts = KernelArtifacts::in_dir(&dir?);
    (inputs > 0 && artifacts.vmlinux.is_file()).then_some(artifacts)
}

/// Where the kernel for `profile` is (or will be) cached, and whether it is built, without
/// building anything (`build.sh --print-dir`). `HULL_KERNEL` answers for every profile.
pub fn kernel_location(profile: KernelProfile) -> Result<(KernelArtifacts, bool), ArtifactsError> {
    if let Some(vmlinux) = std::env::var_os(ENV_KERNEL).filter(|v| !v.is_empty()) {
        let artifacts = from_override(PathBuf::from(vmlinux))?;
        return Ok((artifacts, true));
    }
    let artifacts = run_build_script(&build_script(), profile, &["--print-dir"])?;
    let built = artifacts.vmlinux.is_file();
    Ok((artifacts, built))
}

fn build_script() -> PathBuf {
    std::env::var_os(ENV_CONFIG_DIR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("build.sh")
}

fn from_override(vmlinux: PathBuf) -> Result<KernelArtifacts, ArtifactsError> {
    if !vmlinux.is_file() {
        return Err(ArtifactsError::OverrideMissing(vmlinux));
    }
    let dir = vmlinux
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok(KernelArtifacts {
        bz_image: dir.join("bzImage"),
        vmlinux,
        dir,
    })
}

/// Runs build.sh for `profile` with `extra` arguments and returns the artifacts in the
/// directory it names; with `--print-dir` they need not exist yet.
fn run_build_script(
    script: &Path,
    profile: KernelProfile,
    extra: &[&str],
) -> Result<KernelArtifacts, ArtifactsError> {
    let print_only = extra.contains(&"--print-dir");
    let output = Command::new("bash")
        .arg(script)
        .args([
            OsString::from("--profile"),
            OsString::from(profile.as_str()),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| ArtifactsError::Spawn {
            path: script.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        return Err(ArtifactsError::BuildFailed {
            profile,
            status: output.status,
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = PathBuf::from(last_line(&stdout));
    let artifacts = KernelArtifacts::in_dir(&dir);
    if !print_only && !artifacts.vmlinux.is_file() {
        return Err(ArtifactsError::NoVmlinux(dir));
    }
    Ok(artifacts)
}

/// build.sh's contract: the last non-empty stdout line is the output directory.
fn last_line(stdout: &str) -> &str {
    stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_non_empty_line_is_the_directory() {
        assert_eq!(
            last_line("noise\n/var/cache/hull/kernel/standard-ab\n\n"),
            "/var/cache/hull/kernel/standard-ab"
        );
        assert_eq!(last_line(""), "");
    }

    /// The contract between build.sh's memo and [`memo_lookup`], with the real script: a fake
    /// source tarball and a fake cached build make it a cache hit, so nothing is compiled.
    #[test]
    fn memo_written_by_build_sh_is_trusted_until_an_input_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let config_dir = tmp.path().join("kernel-config");
        std::fs::create_dir(&config_dir).unwrap();
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in ["build.sh", "hull.config"] {
            std::fs::copy(here.join(file), config_dir.join(file)).unwrap();
        }
        let source = tmp.path().join("linux-source.tar.xz");
        std::fs::write(&source, b"not really a kernel").unwrap();
        let cache = tmp.path().join("cache");
        let build_sh = |extra: &[&str]| {
            let out = Command::new("bash")
                .arg(config_dir.join("build.sh"))
                .args(extra)
                .env(ENV_CACHE, &cache)
                .env(ENV_SOURCE, &source)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            PathBuf::from(last_line(&String::from_utf8_lossy(&out.stdout)))
        };
        let dir = build_sh(&["--print-dir"]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vmlinux"), b"fake").unwrap();
        assert_eq!(build_sh(&[]), dir, "a cache hit");

        let script = config_dir.join("build.sh");
        let source_env = source.to_str().unwrap();
        let kernel_cache = cache.join("kernel");
        let lookup = || memo_lookup(&kernel_cache, &script, KernelProfile::Standard, source_env);
        assert_eq!(lookup(), Some(KernelArtifacts::in_dir(&dir)));
        assert_eq!(
            memo_lookup(&kernel_cache, &script, KernelProfile::Standard, "/other"),
            None,
            "another HULL_KERNEL_SOURCE"
        );
        assert_eq!(
            memo_lookup(
                &kernel_cache,
                Path::new("/x/build.sh"),
                KernelProfile::Standard,
                source_env
            ),
            None,
            "another script"
        );
        assert_eq!(
            memo_lookup(
                &kernel_cache,
                &script,
                KernelProfile::EmulatedKvmCompat,
                source_env
            ),
            None,
            "no memo for that profile"
        );
        // An edited fragment (new size and mtime) sends hull back to build.sh.
        let fragment = config_dir.join("hull.config");
        let mut text = std::fs::read_to_string(&fragment).unwrap();
        text.push_str("# edited\n");
        std::fs::write(&fragment, text).unwrap();
        assert_eq!(lookup(), None);
        let dir2 = build_sh(&["--print-dir"]);
        assert_ne!(dir2, dir, "the edit changes the build hash");
        // A removed build is not trusted either.
        std::fs::write(
            config_dir.join("hull.config"),
            std::fs::read(here.join("hull.config")).unwrap(),
        )
        .unwrap();
        assert_eq!(build_sh(&["--print-dir"]), dir);
        assert_eq!(build_sh(&[]), dir);
        assert_eq!(lookup(), Some(KernelArtifacts::in_dir(&dir)));
        std::fs::remove_file(dir.join("vmlinux")).unwrap();
        assert_eq!(lookup(), None);
    }

    #[test]
    fn override_must_exist() {
        let err = from_override(PathBuf::from("/nonexistent/vmlinux")).unwrap_err();
        assert!(matches!(err, ArtifactsError::OverrideMissing(_)));
        assert!(err.to_string().contains("HULL_KERNEL"));
    }

    #[test]
    fn override_uses_sibling_files() {
        let me = std::env::current_exe().unwrap();
        let a = from_override(me.clone()).unwrap();
        assert_eq!(a.vmlinux, me);
        assert_eq!(a.dir, me.parent().unwrap());
        assert_eq!(a.bz_image, a.dir.join("bzImage"));
    }
}
