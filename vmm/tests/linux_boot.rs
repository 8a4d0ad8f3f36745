//! The real guest kernel on hull-vmm. Skips (printing why) without /dev/kvm or without a
//! built kernel (`HULL_KERNEL`, or `kernel-config/build.sh` output in the cache).
//!
//! On this project's emulation-only KVM a stock kernel runs its ring-0 code at ~2 M
//! instructions/s: the banner and memory map come within a second, the MP table's CPUs
//! after ~16 s, userspace never (see /work/shared/notes/kvm-on-this-host.md).

mod common;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::common::{
        busybox_root_disk, compat_kernel_or_skip, compat_options, find_linux_kernel, run_until,
        skip_reason, temp_path,
    };

    /// The kernel's earliest lines prove the ELF/PVH load, the command line, the E820
    /// map and the serial console.
    const EARLY_CMDLINE: &str = "console=ttyS0 earlyprintk=ttyS0 reboot=k panic=1 pci=off";

    fn kernel_or_skip() -> Option<String> {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return None;
        }
        match find_linux_kernel() {
            Some(k) => Some(k.to_string_lossy().into_owned()),
            None => {
                eprintln!(
                    "skipped: no guest kernel (set HULL_KERNEL or run kernel-config/build.sh)"
                );
                None
            }
        }
    }

    #[test]
    fn linux_prints_its_banner_command_line_and_memory_map() {
        let Some(kernel) = kernel_or_skip() else {
            return;
        };
        let needles = [
            "Linux version ",
            "Command line: console=ttyS0 earlyprintk=ttyS0 reboot=k",
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable",
        ];
        let (out, err, exited) = run_until(
            &[
                "--kernel",
                &kernel,
                "--mem-mib",
                "128",
                "--cmdline",
                EARLY_CMDLINE,
            ],
            &needles,
            // ~1 s on this host when idle; ring-0 emulation is CPU-bound, so a loaded
            // machine stretches it a lot. Returns as soon as the lines are seen.
            Duration::from_secs(90),
        );
        for needle in needles {
            assert!(
                out.contains(needle),
                "missing {needle:?} (exited: {exited:?})\nstdout:\n{out}\nstderr:\n{err}"
            );
        }
    }

    /// Slow tier (~20 s here): run with
    /// `cargo test -p hull-vmm --test linux_boot -- --ignored`.
    #[test]
    #[ignore]
    fn linux_finds_both_vcpus_in_the_mp_table() {
        let Some(kernel) = kernel_or_skip() else {
            return;
        };
        let needles = [
            "MPTABLE: OEM ID: HULL",
            "Processor #0 (Bootup-CPU)",
            "Processor #1",
            "Processors: 2",
        ];
        let (out, err, exited) = run_until(
            &[
                "--kernel",
                &kernel,
                "--cpus",
                "2",
                "--cmdline",
                EARLY_CMDLINE,
            ],
            &needles,
            Duration::from_secs(240),
        );
        for needle in needles {
            assert!(
                out.contains(needle),
                "missing {needle:?} (exited: {exited:?})\nstdout:\n{out}\nstderr:\n{err}"
            );
        }
    }

    /// Slow tier (~40 s here when the host is idle; seconds on hardware KVM): the compat
    /// kernel boots with its root filesystem on a hull-vmm virtio-blk disk and its console
    /// on hull-vmm's virtio-console, and /init runs and prints. Run with
    /// `cargo test -p hull-vmm --test linux_boot -- --ignored`; needs the pvm-compat kernel
    /// (`HULL_COMPAT_KERNEL`, or `kernel-config/build.sh --profile pvm-compat`),
    /// /bin/busybox (busybox-static) and mkfs.ext4 (e2fsprogs).
    #[test]
    #[ignore]
    fn compat_kernel_runs_init_from_a_virtio_disk_on_a_virtio_console() {
        let Some(kernel) = compat_kernel_or_skip() else {
            return;
        };
        // /init prints on hvc0.
        let init = "#!/bin/busybox sh\n\
                    /bin/busybox mount -t devtmpfs dev /dev\n\
                    exec >/dev/hvc0 2>&1\n\
                    echo \"hull slow tier: /init ran\"\n\
                    /bin/busybox mount -t sysfs sys /sys\n\
                    for d in vda vdb; do echo \"disk $d $(/bin/busybox cat /sys/block/$d/serial) $(/bin/busybox cat /sys/block/$d/size) ro=$(/bin/busybox cat /sys/block/$d/ro)\"; done\n\
                    echo \"hull slow tier: disks listed\"\n\
                    /bin/busybox reboot -f\n";
        let Some(disk) = busybox_root_disk("slow", init) else {
            return;
        };
        let cmdline = format!(
            "{} console=hvc0 root=/dev/vda rw rootfstype=ext4 init=/init reboot=k panic=-1 pci=off",
            compat_options()
        );
        let disk_arg = format!("{},serial=hull-rw", disk.display());
        // A second, read-only disk of 3 MiB + 512 bytes: the guest must see its exact size
        // in sectors and its read-only flag.
        let layer = temp_path("slow-layer.img");
        std::fs::write(&layer, vec![0u8; (3 << 20) + 512]).unwrap();
        let layer_arg = format!("{}:ro,serial=hull-layer-0", layer.display());
        let start = std::time::Instant::now();
        let (out, err, exited) = run_until(
            &[
                "--kernel",
                &kernel,
                "--cmdline",
                &cmdline,
                // Boot time under emulation grows ~3 s per 100 MiB (kernel-config/README.md).
                "--mem-mib",
                "128",
                "--disk",
                &disk_arg,
                "--disk",
                &layer_arg,
                "--console",
                "virtio",
                "--cpu-vendor",
                "intel",
            ],
            &["hull slow tier: disks listed"],
            Duration::from_secs(600),
        );
        eprintln!(
            "slow tier: {:?} to /init's line (exited: {exited:?})",
            start.elapsed()
        );
        let _ = std::fs::remove_file(&disk);
        let _ = std::fs::remove_file(&layer);
        assert!(
            out.contains("hull slow tier: /init ran"),
            "/init did not print on hvc0 (exited: {exited:?})\nstdout:\n{out}\nstderr (COM1 + log):\n{err}"
        );
        // 16 MiB root = 32768 sectors, writable; the layer 6145 sectors, read-only.
        // (Probe order names vda/vdb; the serial identifies the disk.)
        assert!(out.contains(" hull-rw 32768 ro=0"), "{out}");
        assert!(out.contains(" hull-layer-0 6145 ro=1"), "{out}");
    }

    /// Slow tier (~30 s here): three socket consoles, as hull's engine attaches them. Linux
    /// must name them hvc0, hvc1, hvc2 in `--virtio-console` order (the guest init finds
    /// stdio, stderr and control by those names), bytes must cross each one both ways, and
    /// a peer that leaves must cost only its own console's output. Same needs and command
    /// as the test above.
    #[test]
    #[ignore]
    fn compat_kernel_names_socket_consoles_hvc0_to_hvc2_in_order() {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::os::unix::net::UnixStream;
        use std::process::{Command, Stdio};
        use std::time::Instant;

        let Some(kernel) = compat_kernel_or_skip() else {
            return;
        };
        // Each console is held open (hvc resets a tty's modes on its last close) in raw
        // mode, so lines cross unchanged and host input is not echoed.
        let init = "#!/bin/busybox sh\n\
                    /bin/busybox mount -t devtmpfs dev /dev\n\
                    exec 3<>/dev/hvc0 4<>/dev/hvc1 5<>/dev/hvc2\n\
                    /bin/busybox stty raw -echo <&3\n\
                    /bin/busybox stty raw -echo <&4\n\
                    /bin/busybox stty raw -echo <&5\n\
                    echo 'I am hvc0' >&3\n\
                    echo 'I am hvc1' >&4\n\
                    echo 'I am hvc2' >&5\n\
                    read -r line <&3; echo \"hvc0 got: $line\" >&3\n\
                    read -r line <&4; echo \"hvc1 got: $line\" >&4\n\
                    /bin/busybox dd if=/dev/zero bs=1024 count=64 >&5 2>/dev/null\n\
                    echo 'guest done' >&3\n\
                    /bin/busybox reboot -f\n";
        let Some(disk) = busybox_root_disk("sockets", init) else {
            return;
        };
        let dir = temp_path("socket-consoles");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let paths: Vec<_> = (0..3).map(|i| dir.join(format!("c{i}.sock"))).collect();
        let cmdline = format!(
            "{} console=ttyS0 quiet root=/dev/vda rw rootfstype=ext4 init=/init reboot=k panic=-1 pci=off",
            compat_options()
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_hull-vmm"));
        command
            .args([
                "--kernel",
                &kernel,
                "--cmdline",
                &cmdline,
                "--mem-mib",
                "128",
            ])
            .args(["--cpu-vendor", "intel", "--disk"])
            .arg(format!("{},serial=hull-rw", disk.display()));
        for path in &paths {
            command
                .arg("--virtio-console")
                .arg(format!("socket={}", path.display()));
        }
        let start = Instant::now();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hull-vmm");
        // COM1 (kernel warnings) and hull-vmm's log, for the failure message.
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let com1 = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let log = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let connect = |path: &std::path::Path| loop {
            if let Ok(stream) = UnixStream::connect(path) {
                // Boot under emulation takes tens of seconds; a loaded host stretches it.
                stream
                    .set_read_timeout(Some(Duration::from_secs(300)))
                    .unwrap();
                break stream;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no socket");
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut consoles: Vec<_> = paths
            .iter()
            .map(|path| BufReader::new(connect(path)))
            .collect();
        let mut seen: Vec<String> = Vec::new();
        // A line from `console`; false (nothing more will come) on timeout or EOF.
        let mut read_line = |consoles: &mut Vec<BufReader<UnixStream>>, console: usize| {
            let mut line = String::new();
            let _ = consoles[console].read_line(&mut line);
            let got = line.ends_with('\n');
            seen.push(line);
            got
        };
        let complete = (0..3).all(|n| read_line(&mut consoles, n))
            && {
                // hvc2's peer leaves; the guest's 64 KiB for it must not hold anything up.
                drop(consoles.pop());
                (0..2).all(|n| {
                    consoles[n]
                        .get_mut()
                        .write_all(format!("ping {n}\n").as_bytes())
                        .is_ok()
                        && read_line(&mut consoles, n)
                })
            }
            && read_line(&mut consoles, 0);
        if !complete {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        let (com1, log) = (com1.join().unwrap(), log.join().unwrap());
        eprintln!("socket consoles: VM done after {:?}", start.elapsed());
        let _ = std::fs::remove_file(&disk);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            seen,
            [
                "I am hvc0\n",
                "I am hvc1\n",
                "I am hvc2\n",
                "hvc0 got: ping 0\n",
                "hvc1 got: ping 1\n",
                "guest done\n"
            ],
            "COM1:\n{com1}\nhull-vmm log:\n{log}"
        );
        assert_eq!(
            status.code(),
            Some(0),
            "COM1:\n{com1}\nhull-vmm log:\n{log}"
        );
    }
}
