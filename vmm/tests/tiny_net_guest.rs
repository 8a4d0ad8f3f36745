//! `--net` through the real `hull-vmm` binary: a tiny guest reads the virtio-net device's
//! registers and config space over MMIO. hull-vmm runs in a network namespace the test
//! creates (so its tap never touches the host's interfaces). Skips with the reason printed
//! without /dev/kvm or without network namespaces/taps.

mod common;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::common::{elf, run_hull_vmm, skip_reason, x86, RunResult, Segment, LOAD_ADDR};

    const TIMEOUT: Duration = Duration::from_secs(20);

    /// A guest that prints "virtio-net ok" when the first virtio-mmio slot is a network
    /// device (DeviceID 1) whose config space starts with MAC bytes 02:00:0a:58.
    fn guest() -> Vec<u8> {
        let ok = [x86::print(b"virtio-net ok\n"), x86::RESET.to_vec()].concat();
        let bad = [x86::print(b"virtio-net bad\n"), x86::RESET.to_vec()].concat();
        let ok_len = u8::try_from(ok.len()).unwrap();
        let mut code = x86::DX_COM1.to_vec();
        code.extend([0xa1, 0x08, 0x00, 0x00, 0xd0]); // mov eax, [0xd0000008] (DeviceID)
        code.extend([0x83, 0xf8, 0x01]); //             cmp eax, 1 (network card)
        code.extend([0x75, 12 + ok_len]); //            jne bad
        code.extend([0xa1, 0x00, 0x01, 0x00, 0xd0]); // mov eax, [0xd0000100] (mac[0..4])
        code.extend([0x3d, 0x02, 0x00, 0x0a, 0x58]); // cmp eax, 0x580a0002
        code.extend([0x75, ok_len]); //                 jne bad
        code.extend(ok);
        code.extend(bad);
        elf(
            LOAD_ADDR,
            &[Segment {
                paddr: LOAD_ADDR,
                bytes: code,
            }],
            Some(u32::try_from(LOAD_ADDR).unwrap()),
        )
    }

    /// Runs hull-vmm from a thread moved into a fresh network namespace: the child inherits
    /// it, creates its tap there, and the namespace goes away with them.
    fn run_in_private_netns(mac: &'static str) -> Result<RunResult, String> {
        std::thread::spawn(move || {
            // SAFETY: unshare(CLONE_NEWNET) moves only this (test-owned) thread into a new,
            // empty network namespace; it touches no memory of ours.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(format!(
                    "cannot create a network namespace: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let net = format!("tap=hulltiny0,mac={mac}");
            Ok(run_hull_vmm("vnet", &guest(), &["--net", &net], TIMEOUT))
        })
        .join()
        .expect("test thread")
    }

    #[test]
    fn virtio_net_registers_and_mac_are_visible_over_mmio() {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            eprintln!("skipped: no /dev/net/tun on this host");
            return;
        }
        // The right MAC passes every check; another one fails the config-space check, which
        // proves the guest's branches (not a fall-through) decide the output.
        for (mac, expected) in [
            ("02:00:0a:58:00:02", "virtio-net ok\n"),
            ("02:00:0a:59:00:02", "virtio-net bad\n"),
        ] {
            let run = match run_in_private_netns(mac) {
                Ok(run) => run,
                Err(why) => {
                    eprintln!("skipped: {why}");
                    return;
                }
            };
            if run.stderr.contains("cannot open /dev/net/tun")
                || run.stderr.contains("cannot attach to tap")
            {
                eprintln!("skipped: no tap here: {}", run.stderr);
                return;
            }
            assert_eq!(run.stdout, expected, "stderr: {}", run.stderr);
            assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
        }
    }

    #[test]
    fn a_missing_tap_fd_is_a_one_line_error() {
        let run = run_hull_vmm("vnetfd", &[0x55; 16], &["--net", "fd=999"], TIMEOUT);
        assert_eq!(run.status, Some(1), "stderr: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with("hull-vmm: error: fd 999 is not a tap opened with"),
            "stderr: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "stderr: {}", run.stderr);
    }
}
