//! Checks against the real kernel build: the cached build's config, the boot, and the
//! scripts' agreement with the Rust command line. Each test skips (with a printed reason)
//! when the cached kernel or a tool is missing; build it with `kernel-config/build.sh`.

#[cfg(test)]
mod tests {
    use hull_kernel::cmdline::{CmdlineEngine, GuestCmdline};
    use hull_kernel::fragment::missing_options;
    use hull_kernel::KernelProfile;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn config_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The cache directory build.sh would use for `profile` (whether or not it is built).
    fn cache_dir(profile: KernelProfile) -> PathBuf {
        let out = Command::new("bash")
            .arg(config_dir().join("build.sh"))
            .args(["--profile", profile.as_str(), "--print-dir"])
            .output()
            .expect("run build.sh --print-dir");
        assert!(out.status.success(), "build.sh --print-dir failed: {out:?}");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    }

    /// The cached build of `profile`, or `None` after printing why the test skips.
    fn cached_build(profile: KernelProfile) -> Option<PathBuf> {
        let dir = cache_dir(profile);
        if dir.join("vmlinux").is_file() {
            Some(dir)
        } else {
            println!(
                "skip: no cached {profile} kernel at {} (run kernel-config/build.sh --profile {profile})",
                dir.display()
            );
            None
        }
    }

    fn fragments(profile: KernelProfile) -> String {
        let mut names = vec!["hull.config"];
        if profile == KernelProfile::EmulatedKvmCompat {
            names.push("pvm-compat.config");
        }
        names
            .iter()
            .map(|n| std::fs::read_to_string(config_dir().join(n)).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn assert_fragments_survived(profile: KernelProfile) {
        let Some(dir) = cached_build(profile) else {
            return;
        };
        let config = std::fs::read_to_string(dir.join("config")).unwrap();
        let missing = missing_options(&fragments(profile), &config);
        assert!(
            missing.is_empty(),
            "{profile}: fragment options missing from {}/config: {missing:#?}",
            dir.display()
        );
        // Spot-check that the check is not vacuous: things hull cannot live without.
        for line in [
            "CONFIG_64BIT=y",
            "CONFIG_PVH=y",
            "CONFIG_VIRTIO_BLK=y",
            "CONFIG_OVERLAY_FS=y",
        ] {
            assert!(
                config.lines().any(|l| l == line),
                "{line} not in {}",
                dir.display()
            );
        }
    }

    #[test]
    fn standard_build_has_every_fragment_option() {
        assert_fragments_survived(KernelProfile::Standard);
    }

    #[test]
    fn compat_build_has_every_fragment_option() {
        assert_fragments_survived(KernelProfile::EmulatedKvmCompat);
    }

    #[test]
    fn fragments_never_ask_for_modules_pci_or_acpi() {
        let fragment = fragments(KernelProfile::EmulatedKvmCompat);
        for line in [
            "CONFIG_MODULES=y",
            "CONFIG_PCI=y",
            "CONFIG_ACPI=y",
            "CONFIG_LEGACY_PTYS=y",
        ] {
            assert!(!fragment.lines().any(|l| l == line), "{line} in a fragment");
        }
    }

    #[test]
    fn cached_vmlinux_has_the_pvh_note() {
        let Some(dir) = cached_build(KernelProfile::Standard) else {
            return;
        };
        let Ok(out) = Command::new("readelf")
            .arg("-n")
            .arg(dir.join("vmlinux"))
            .output()
        else {
            println!("skip: readelf not found (apt-get install binutils)");
            return;
        };
        let notes = String::from_utf8_lossy(&out.stdout);
        // XEN_ELFNOTE_PHYS32_ENTRY = 18: the 32-bit PVH entry point both engines jump to.
        assert!(
            notes
                .lines()
                .any(|l| l.contains("Xen") && l.contains("0x00000012")),
            "no PVH note in {}:\n{notes}",
            dir.display()
        );
    }

    #[test]
    fn ensure_kernel_returns_the_cached_build() {
        if std::env::var_os(hull_kernel::ENV_KERNEL).is_some() {
            println!("skip: HULL_KERNEL is set, so ensure_kernel would not look at the cache");
            return;
        }
        let Some(dir) = cached_build(KernelProfile::Standard) else {
            return;
        };
        let artifacts = hull_kernel::ensure_kernel(KernelProfile::Standard).unwrap();
        assert_eq!(artifacts.dir, dir);
        assert!(artifacts.vmlinux.is_file() && artifacts.bz_image.is_file());
    }

    /// The line the bench script uses for `profile` when no --cmdline is given.
    fn bench_default_cmdline(var: &str) -> String {
        let script = std::fs::read_to_string(config_dir().join("bench-boot.sh")).unwrap();
        let line = script
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{var}=\"")))
            .unwrap_or_else(|| panic!("{var} not in bench-boot.sh"));
        line.trim_end_matches('"').to_owned()
    }

    #[test]
    fn bench_script_measures_the_line_hull_uses() {
        for (profile, var) in [
            (KernelProfile::Standard, "STANDARD_CMDLINE"),
            (KernelProfile::EmulatedKvmCompat, "COMPAT_CMDLINE"),
        ] {
            let rendered = GuestCmdline::new(profile, CmdlineEngine::Qemu).render();
            assert_eq!(
                bench_default_cmdline(var),
                rendered,
                "{var} in bench-boot.sh"
            );
        }
    }

    fn have(tool: &str) -> bool {
        Path::new(tool).is_file()
            || Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
    }

    /// Boots the cached standard kernel under QEMU TCG with a busybox /init (about 1-2 s).
    #[test]
    fn standard_kernel_boots_busybox_under_tcg() {
        let Some(dir) = cached_build(KernelProfile::Standard) else {
            return;
        };
        for tool in ["qemu-system-x86_64", "/bin/busybox", "cpio", "mknod"] {
            if !have(tool) {
                println!(
                    "skip: {tool} not found (apt-get install qemu-system-x86 busybox-static cpio)"
                );
                return;
            }
        }
        if !nix_is_root() {
            println!("skip: bench-boot.sh needs root for mknod /dev/console");
            return;
        }
        let out = Command::new("bash")
            .arg(config_dir().join("bench-boot.sh"))
            .args(["--runs", "1", "--kernel"])
            .arg(dir.join("vmlinux"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "boot failed:\n{stderr}");
        assert!(
            stdout.contains("median of 1: guest"),
            "no boot report:\n{stdout}\n{stderr}"
        );
        println!("{}", stdout.trim());
    }

    /// Slow tier (~15-30 s): boots the cached pvm-compat kernel under QEMU with KVM and
    /// checks that busybox's /init ran (its first system calls go through patch 0001 on an
    /// emulation-only KVM host). Run with
    /// `cargo test -p hull-kernel --test kernel_build -- --ignored --nocapture`.
    #[test]
    #[ignore = "slow: boots the pvm-compat kernel under QEMU+KVM (~15-30 s)"]
    fn compat_kernel_boots_busybox_under_kvm() {
        let Some(dir) = cached_build(KernelProfile::EmulatedKvmCompat) else {
            return;
        };
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
        {
            println!("skip: /dev/kvm is not usable here");
            return;
        }
        for tool in ["qemu-system-x86_64", "/bin/busybox", "cpio"] {
            if !have(tool) {
                println!(
                    "skip: {tool} not found (apt-get install qemu-system-x86 busybox-static cpio)"
                );
                return;
            }
        }
        if !nix_is_root() {
            println!("skip: bench-boot.sh needs root for mknod /dev/console");
            return;
        }
        let out = Command::new("bash")
            .arg(config_dir().join("bench-boot.sh"))
            .args([
                "--runs",
                "1",
                "--accel",
                "kvm",
                "--profile",
                "pvm-compat",
                "--mem",
                "128",
                "--kernel",
            ])
            .arg(dir.join("vmlinux"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "compat boot failed:\n{stderr}");
        assert!(
            stdout.contains("median of 1: guest"),
            "no boot report:\n{stdout}\n{stderr}"
        );
        println!("{}", stdout.trim());
    }

    fn nix_is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }
}
