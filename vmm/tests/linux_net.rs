//! Slow tier: the guest kernel's own virtio_net driver on a hull-vmm NIC. The test makes a
//! network namespace for one thread, opens a tap there (given to hull-vmm as `--net fd=N`,
//! as hull's engine does), gives the tap 10.0.2.1/24, and serves TCP on it; the compat
//! kernel's busybox /init brings eth0 up as 10.0.2.15 and moves data both ways with `nc`.
//! Nothing touches the host's own interfaces. Run with
//! `cargo test -p hull-vmm --test linux_net -- --ignored`; needs what the linux_boot slow
//! tier needs (the pvm-compat kernel, /bin/busybox, mkfs.ext4) and /dev/net/tun.

mod common;

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::{Duration, Instant};

    use hull_vmm::devices::virtio::net::Tap;

    use crate::common::{busybox_root_disk, compat_kernel_or_skip, compat_options, run_until};

    const TAP_NAME: &str = "hullnet0";
    const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
    const MAC: &str = "02:00:0a:00:02:0f";
    /// Bytes each way: enough for TSO/GSO frames and many RX buffers, small enough for a
    /// guest kernel whose ring-0 code is emulated.
    const PAYLOAD: usize = 256 << 10;

    fn os_error(what: &str) -> String {
        format!("{what}: {}", std::io::Error::last_os_error())
    }

    fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr {
        // SAFETY: sockaddr_in is plain C data; all-zero is valid.
        let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sin.sin_family = u16::try_from(libc::AF_INET).unwrap();
        sin.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
        // SAFETY: sockaddr_in and sockaddr have the same size; sockaddr is plain C data.
        unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
    }

    /// Gives TAP_NAME 10.0.2.1/24 and brings it up (ioctls in this thread's namespace).
    fn configure_host_side() -> Result<(), String> {
        // SAFETY: a plain socket(2) call; the fd is owned right away.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(os_error("socket"));
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ifreq is plain C data; all-zero is valid.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in ifr.ifr_name.iter_mut().zip(TAP_NAME.bytes()) {
            *dst = libc::c_char::from_ne_bytes([src]);
        }
        let fd = sock.as_raw_fd();
        // SAFETY: each ioctl reads/writes the `ifreq` we own, which outlives the calls, and
        // acts on the tap in this thread's private namespace.
        unsafe {
            ifr.ifr_ifru.ifru_addr = sockaddr_in(HOST_IP);
            if libc::ioctl(fd, libc::SIOCSIFADDR, &ifr) < 0 {
                return Err(os_error("SIOCSIFADDR"));
            }
            ifr.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::new(255, 255, 255, 0));
            if libc::ioctl(fd, libc::SIOCSIFNETMASK, &ifr) < 0 {
                return Err(os_error("SIOCSIFNETMASK"));
            }
            if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) < 0 {
                return Err(os_error("SIOCGIFFLAGS"));
            }
            ifr.ifr_ifru.ifru_flags |= libc::c_short::try_from(libc::IFF_UP).unwrap();
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) < 0 {
                return Err(os_error("SIOCSIFFLAGS"));
            }
        }
        Ok(())
    }

    fn pattern() -> Vec<u8> {
        (0..PAYLOAD)
            .map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap())
            .collect()
    }

    /// busybox md5sum of `data`, as the guest prints it.
    fn md5(data: &[u8]) -> String {
        let path = std::env::temp_dir().join(format!("hull-net-md5-{}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        let out = std::process::Command::new("/bin/busybox")
            .arg("md5sum")
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    struct Outcome {
        stdout: String,
        stderr: String,
        received: Vec<u8>,
        wall: Duration,
    }

    /// Everything in the private namespace; Err(reason) means "cannot run here".
    fn run_guest(kernel: &str, disk: &str) -> Result<Outcome, String> {
        // SAFETY: unshare(CLONE_NEWNET) moves only this (test-owned) thread into a new,
        // empty network namespace; it touches no memory of ours.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(os_error("cannot create a network namespace"));
        }
        let tap = Tap::open(TAP_NAME).map_err(|e| format!("cannot create a tap: {e}"))?;
        configure_host_side()?;
        // The child inherits a dup without close-on-exec (dup never sets it).
        // SAFETY: dup of an fd we own; the new fd is owned right away.
        let inherited = unsafe { libc::dup(tap.as_raw_fd()) };
        if inherited < 0 {
            return Err(os_error("dup"));
        }
        // SAFETY: `inherited` is a fresh fd nobody else owns.
        let inherited = unsafe { OwnedFd::from_raw_fd(inherited) };
        let to_guest = TcpListener::bind((HOST_IP, 5000)).map_err(|e| e.to_string())?;
        let from_guest = TcpListener::bind((HOST_IP, 5001)).map_err(|e| e.to_string())?;
        let sender = std::thread::spawn(move || {
            if let Ok((mut conn, _)) = to_guest.accept() {
                let _ = conn.write_all(&pattern());
            }
        });
        let receiver = std::thread::spawn(move || {
            let mut got = Vec::new();
            if let Ok((conn, _)) = from_guest.accept() {
                // The guest's nc waits for us to close once its input is sent.
                let _ = conn.take(PAYLOAD as u64).read_to_end(&mut got);
            }
            got
        });
        let cmdline = format!(
            "{} console=hvc0 root=/dev/vda rw rootfstype=ext4 init=/init reboot=k panic=-1 pci=off",
            compat_options()
        );
        let net = format!("fd={},mac={MAC}", inherited.as_raw_fd());
        let start = Instant::now();
        let (stdout, stderr, _) = run_until(
            &[
                "--kernel",
                kernel,
                "--cmdline",
                &cmdline,
                "--mem-mib",
                "128",
                "--disk",
                disk,
                "--net",
                &net,
                "--console",
                "virtio",
                "--cpu-vendor",
                "intel",
            ],
            &["hull net test: done"],
            Duration::from_secs(900),
        );
        let wall = start.elapsed();
        drop(inherited);
        drop(tap);
        // Unblock whichever side the guest never reached.
        let _ = std::net::TcpStream::connect((HOST_IP, 5000));
        let _ = std::net::TcpStream::connect((HOST_IP, 5001));
        let _ = sender.join();
        let received = receiver.join().unwrap_or_default();
        Ok(Outcome {
            stdout,
            stderr,
            received,
            wall,
        })
    }

    /// Slow tier (minutes under emulated KVM): TCP both ways through the guest's virtio_net
    /// driver, with every offload it negotiates (checksum, TSO, mergeable RX buffers).
    #[test]
    #[ignore]
    fn compat_kernel_moves_tcp_both_ways_over_virtio_net() {
        if !std::path::Path::new("/dev/net/tun").exists() {
            eprintln!("skipped: no /dev/net/tun on this host");
            return;
        }
        let Some(kernel) = compat_kernel_or_skip() else {
            return;
        };
        let init = format!(
            "#!/bin/busybox sh\n\
             /bin/busybox mount -t devtmpfs dev /dev\n\
             /bin/busybox mount -t sysfs sys /sys\n\
             exec >/dev/hvc0 2>&1\n\
             echo \"mac $(/bin/busybox cat /sys/class/net/eth0/address)\"\n\
             /bin/busybox ip link set eth0 up\n\
             /bin/busybox ip addr add 10.0.2.15/24 dev eth0\n\
             echo \"rx $(/bin/busybox nc {HOST_IP} 5000 </dev/null | /bin/busybox md5sum)\"\n\
             /bin/busybox dd if=/dev/zero bs=1024 count={} 2>/dev/null | /bin/busybox nc {HOST_IP} 5001\n\
             echo \"hull net test: done\"\n\
             /bin/busybox reboot -f\n",
            PAYLOAD / 1024
        );
        let Some(disk) = busybox_root_disk("net", &init) else {
            return;
        };
        let disk_arg = disk.display().to_string();
        let outcome = std::thread::spawn(move || run_guest(&kernel, &disk_arg))
            .join()
            .expect("test thread");
        let _ = std::fs::remove_file(&disk);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        eprintln!("linux_net: {:?} to /init's last line", outcome.wall);
        let out = &outcome.stdout;
        let context = format!("stdout:\n{out}\nstderr:\n{}", outcome.stderr);
        assert!(out.contains(&format!("mac {MAC}")), "{context}");
        assert!(
            out.contains(&format!("rx {}", md5(&pattern()))),
            "host -> guest data differs\n{context}"
        );
        assert_eq!(outcome.received.len(), PAYLOAD, "guest -> host\n{context}");
        assert!(outcome.received.iter().all(|&b| b == 0), "{context}");
    }
}
