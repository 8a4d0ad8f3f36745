//! The guest kernel command line: built here and nowhere else.
//!
//! Engines add only what they alone know (their `virtio_mmio.device=` list, via
//! [`virtio_mmio_device`] and [`GuestCmdline::extra`]); everything else is decided here so
//! both engines boot the same way.

use crate::KernelProfile;

/// Which engine boots the guest: they differ in how a guest reset ends the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineEngine {
    /// QEMU `-M microvm ... -no-reboot`: a triple fault makes QEMU exit.
    Qemu,
    /// hull-vmm: resets through its i8042 device.
    HullVmm,
}

/// Options every guest gets, in this order.
const ALWAYS: &[&str] = &[
    // Kernel messages and hull-init's diagnostics go to COM1, kept in the container's vm.log.
    "console=ttyS0",
    // A panic (e.g. hull-init dying) resets at once instead of hanging the VM forever.
    "panic=-1",
    // hull-init is the initramfs' /init (`rdinit`: no root= device is mounted by the kernel).
    "rdinit=/init",
];

/// Options measured to cut boot time (README.md, "Boot time"), for every engine.
const BOOT_TIME: &[&str] = &[
    // Skip check_timer()'s test that the IO-APIC timer interrupt arrives: it waits for
    // ticks, and both engines wire the PIT the standard way (0.52 -> 0.46 s under TCG).
    "no_timer_check",
    // With one vCPU the kernel would rewrite every LOCK prefix (thousands of sites) into a
    // NOP at boot; keeping them costs little and saves time (0.52 -> 0.45 s under TCG).
    "noreplace-smp",
];

/// Options for the QEMU engine only. hull uses QEMU where there is no hardware KVM, i.e.
/// under TCG (or emulated KVM), where they were measured.
const QEMU_ONLY: &[&str] = &[
    // No local-APIC timer: its calibration against the PIT takes ~250 ms under TCG (TCG
    // offers no TSC-deadline timer, which is what lets hardware KVM skip it). The PIT then
    // drives the tick (broadcast to other vCPUs; checked with 2 vCPUs).
    "noapictimer",
];

/// Options for emulation-only KVM (README.md, "pvm-compat"): each avoids an instruction
/// the host's KVM cannot emulate at guest CPL0, or work it emulates very slowly.
pub const EMULATED_KVM_COMPAT: &[&str] = &[
    // RDGSBASE/WRFSBASE (context switch, paranoid entry) are not emulated.
    "nofsgsbase",
    // Features whose instructions the emulator lacks or pays dearly for. ERMS/FSRM first:
    // they make memcpy/memset byte-wise `rep movsb/stosb`, paid per byte. POPCNT (hweight),
    // CX16 (`lock cmpxchg16b`), SMAP (CLAC/STAC; 6.1 has no `nosmap`) and XSAVE (XRSTOR;
    // same effect as `noxsave`, which the kernel also passes on to init as an argument)
    // are not emulated. The kernel cuts this value at 127 bytes without a word.
    "clearcpuid=erms,fsrm,popcnt,cx16,smap,xsave",
    // Mapping rodata read-only splits large pages (~10 s of emulated page-table work).
    "rodata=off",
    // No `hull stats` reports from hull-init: each one is emulated guest-kernel work.
    "hull.stats=off",
    // Trust the TSC: skips the clocksource watchdog and its emulated reads.
    "tsc=reliable",
    // Per-CPU areas from 4 KiB pages instead of a 2 MiB-aligned embedded chunk, which
    // setup_per_cpu_areas() spent 1.9 s clearing and freeing under emulation (now 0.3 s).
    "percpu_alloc=page",
];

/// A guest command line. Build one, adjust the public fields, then [`render`](Self::render).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCmdline {
    /// Which kernel build it is for; [`KernelProfile::EmulatedKvmCompat`] adds its options.
    pub profile: KernelProfile,
    /// Which engine boots it (reboot method).
    pub engine: CmdlineEngine,
    /// `quiet`: only warnings and errors on the console (loglevel 4). Printing every boot
    /// line costs time on a slow serial port; errors are still shown.
    pub quiet: bool,
    /// Appended last, verbatim (e.g. `virtio_mmio.device=...`, debug options). Later
    /// options override earlier ones for most kernel parameters.
    pub extra: Vec<String>,
}

impl GuestCmdline {
    /// The default command line for `profile` on `engine`: quiet, no extras.
    pub fn new(profile: KernelProfile, engine: CmdlineEngine) -> Self {
        GuestCmdline {
            profile,
            engine,
            quiet: true,
            extra: Vec::new(),
        }
    }

    /// The command line as the kernel gets it: space-separated options.
    pub fn render(&self) -> String {
        let reboot = match self.engine {
            // Triple fault: QEMU runs with -no-reboot, so it exits at once.
            CmdlineEngine::Qemu => "reboot=t",
            // Pulse the i8042 reset line, which hull-vmm turns into a clean exit. (Also the
            // only reset that works under emulated KVM: the triple-fault path runs int3.)
            CmdlineEngine::HullVmm => "reboot=k",
        };
        let mut options: Vec<&str> = ALWAYS.to_vec();
        options.push(reboot);
        if self.quiet {
            options.push("quiet");
        }
        options.extend_from_slice(BOOT_TIME);
        if self.engine == CmdlineEngine::Qemu {
            options.extend_from_slice(QEMU_ONLY);
        }
        if self.profile == KernelProfile::EmulatedKvmCompat {
            options.extend_from_slice(EMULATED_KVM_COMPAT);
        }
        options.extend(self.extra.iter().map(String::as_str));
        options.join(" ")
    }
}

/// The `virtio_mmio.device=` option announcing one virtio-mmio device to the guest
/// (`<size>@<base>:<irq>`, size in KiB as the kernel's memparse accepts it).
pub fn virtio_mmio_device(base: u64, size: u64, irq: u32) -> String {
    if size.is_multiple_of(1024) {
        format!("virtio_mmio.device={}K@{base:#x}:{irq}", size / 1024)
    } else {
        format!("virtio_mmio.device={size}@{base:#x}:{irq}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(line: &str) -> Vec<&str> {
        line.split(' ').collect()
    }

    #[test]
    fn qemu_standard_line() {
        let line = GuestCmdline::new(KernelProfile::Standard, CmdlineEngine::Qemu).render();
        let opts = options(&line);
        for want in [
            "console=ttyS0",
            "panic=-1",
            "rdinit=/init",
            "reboot=t",
            "quiet",
        ] {
            assert!(opts.contains(&want), "{want} missing from {line}");
        }
        assert!(!opts.contains(&"reboot=k"));
        for opt in BOOT_TIME.iter().chain(QEMU_ONLY) {
            assert!(opts.contains(opt), "{opt} missing from {line}");
        }
        assert!(!line.contains("  ") && !line.starts_with(' ') && !line.ends_with(' '));
    }

    #[test]
    fn hull_vmm_resets_through_i8042() {
        let line = GuestCmdline::new(KernelProfile::Standard, CmdlineEngine::HullVmm).render();
        assert!(options(&line).contains(&"reboot=k"));
        assert!(!options(&line).contains(&"reboot=t"));
        // Hardware KVM has a TSC-deadline timer: the local APIC timer stays on.
        assert!(!options(&line).contains(&"noapictimer"));
        assert!(options(&line).contains(&"no_timer_check"));
    }

    #[test]
    fn not_quiet_drops_quiet_only() {
        let mut c = GuestCmdline::new(KernelProfile::Standard, CmdlineEngine::Qemu);
        let quiet = c.render();
        c.quiet = false;
        let loud = c.render();
        assert!(!options(&loud).contains(&"quiet"));
        assert_eq!(quiet.replace(" quiet", ""), loud);
    }

    #[test]
    fn extras_come_last_in_order() {
        let mut c = GuestCmdline::new(KernelProfile::Standard, CmdlineEngine::HullVmm);
        c.extra = vec![
            virtio_mmio_device(0xd000_0000, 0x1000, 5),
            "initcall_debug".into(),
        ];
        assert!(c
            .render()
            .ends_with(" virtio_mmio.device=4K@0xd0000000:5 initcall_debug"));
    }

    #[test]
    fn compat_options_only_in_compat_profile() {
        let std = GuestCmdline::new(KernelProfile::Standard, CmdlineEngine::HullVmm).render();
        let compat =
            GuestCmdline::new(KernelProfile::EmulatedKvmCompat, CmdlineEngine::HullVmm).render();
        for opt in EMULATED_KVM_COMPAT {
            assert!(
                options(&compat).contains(opt),
                "{opt} missing from {compat}"
            );
            assert!(
                !options(&std).contains(opt),
                "{opt} leaked into standard: {std}"
            );
        }
        assert!(compat.starts_with(&std));
    }

    #[test]
    fn clearcpuid_fits_the_kernels_buffer() {
        // cpu_parse_early_param() copies the value into char[128], silently cutting it.
        for opt in EMULATED_KVM_COMPAT {
            if let Some(value) = opt.strip_prefix("clearcpuid=") {
                assert!(
                    value.len() < 128,
                    "clearcpuid value is {} bytes",
                    value.len()
                );
                assert!(value.starts_with("erms,fsrm"), "erms,fsrm must come first");
            }
        }
    }

    #[test]
    fn virtio_mmio_device_formats() {
        assert_eq!(
            virtio_mmio_device(0xd000_1000, 4096, 6),
            "virtio_mmio.device=4K@0xd0001000:6"
        );
        assert_eq!(
            virtio_mmio_device(0x1000, 512, 7),
            "virtio_mmio.device=512@0x1000:7"
        );
    }
}
