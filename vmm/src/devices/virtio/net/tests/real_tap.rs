//! A real tap, created inside a network namespace this test makes for one thread (so the
//! host's interfaces are never touched), exchanging one frame each way with the data path.
//! A packet socket bound to the tap plays the host's side. Skipped, with the reason
//! printed, where a network namespace or a tap cannot be created.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::*;
use crate::devices::virtio::net::Tap;

/// An experimental EtherType (IEEE 802 local use), so the test's frames are told apart from
/// whatever the kernel sends on a fresh interface (IPv6 router solicitations, ...).
const ETHERTYPE: u16 = 0x88b5;
const TAP_NAME: &str = "hulltest0";

fn ethernet(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&MAC);
    f.extend_from_slice(&ETHERTYPE.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

/// Brings `TAP_NAME` up and returns its ifindex.
fn bring_up() -> Result<i32, String> {
    // SAFETY: a plain socket(2) call; the fd is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(last_error("socket"));
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain C data; all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(TAP_NAME.bytes()) {
        *dst = libc::c_char::from_ne_bytes([src]);
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS/SIOCGIFINDEX read and write the `ifreq` we own,
    // which outlives each call; they act on the interface in this thread's namespace.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err(last_error("SIOCGIFFLAGS"));
        }
        ifr.ifr_ifru.ifru_flags |= libc::c_short::try_from(libc::IFF_UP).unwrap();
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err(last_error("SIOCSIFFLAGS"));
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFINDEX, &mut ifr) < 0 {
            return Err(last_error("SIOCGIFINDEX"));
        }
        Ok(ifr.ifr_ifru.ifru_ifindex)
    }
}

/// A non-blocking packet socket bound to interface `ifindex`, all protocols.
fn packet_socket(ifindex: i32) -> Result<OwnedFd, String> {
    let all = u16::try_from(libc::ETH_P_ALL).unwrap().to_be();
    // SAFETY: a plain socket(2) call; the fd is owned right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(all),
        )
    };
    if raw < 0 {
        return Err(last_error("packet socket"));
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain C data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = u16::try_from(libc::AF_PACKET).unwrap();
    addr.sll_protocol = all;
    addr.sll_ifindex = ifindex;
    let len = u32::try_from(std::mem::size_of::<libc::sockaddr_ll>()).unwrap();
    // SAFETY: bind reads `len` bytes of `addr`, a live sockaddr_ll.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            std::ptr::addr_of!(addr).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc < 0 {
        return Err(last_error("bind packet socket"));
    }
    Ok(sock)
}

/// Everything that needs the private namespace; Err(reason) means "cannot run here".
fn exchange_frames() -> Result<(), String> {
    // SAFETY: unshare(CLONE_NEWNET) moves only the calling thread (this test's own) into a
    // new, empty network namespace; it touches no memory of ours.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(last_error(
            "cannot create a network namespace (unshare CLONE_NEWNET)",
        ));
    }
    let tap = Tap::open(TAP_NAME).map_err(|e| format!("cannot create a tap: {e}"))?;
    // Every offload a Linux guest accepts is taken by this kernel's tap (activation fails
    // otherwise), and so is none.
    let all = super::super::header::tap_offload(OFFERED_FEATURES);
    tap.set_offload(all)
        .unwrap_or_else(|e| panic!("TUNSETOFFLOAD {all:#x}: {e}"));
    tap.set_offload(0)
        .unwrap_or_else(|e| panic!("TUNSETOFFLOAD 0: {e}"));
    let ifindex = bring_up()?;
    let wire = packet_socket(ifindex)?;

    let mem = test_memory();
    let r = rig(&mem);
    let (rx, tx) = r.queues();
    let backend: Box<dyn HostNic> = Box::new(tap);
    let mut h = NetQueueHandler::new(
        mem.clone(),
        rx,
        tx,
        backend,
        CountingSignal::default(),
        PLAIN,
    );

    // Guest -> wire.
    let mut out = vec![0u8; VNET_HDR_LEN];
    out.extend(ethernet(b"hull-vmm tx through a real tap"));
    mem.write_slice(&out, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&out), R)]);
    assert_eq!(h.process_tx().chains, 1);
    assert_eq!(h.counters().tx_frames, 1, "{:?}", h.counters());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: recv writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::recv(wire.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if let Ok(n) = usize::try_from(n) {
            if buf[..n] == out[VNET_HDR_LEN..] {
                break;
            }
            continue; // kernel chatter on the new interface
        }
        assert!(
            Instant::now() < deadline,
            "the guest's frame never reached the wire"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Wire -> guest.
    let sent = ethernet(b"hull-vmm rx through a real tap");
    // SAFETY: send reads `sent.len()` bytes of `sent`.
    let n = unsafe { libc::send(wire.as_raw_fd(), sent.as_ptr().cast(), sent.len(), 0) };
    assert_eq!(
        usize::try_from(n).ok(),
        Some(sent.len()),
        "{}",
        last_error("send")
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut slot = 0u16;
    loop {
        // One buffer per frame; the kernel may send other frames first.
        if slot < QSIZE && r.used_idx(RX_USED) == slot {
            add_chain(
                &r.rxq,
                slot,
                &[(0x20000 + 0x1000 * u64::from(slot), 2048, W)],
            );
            slot += 1;
        }
        h.process_rx();
        let received = (0..r.used_idx(RX_USED)).any(|i| {
            let (head, len) = r.used_entry(RX_USED, i);
            let got = r.read(0x20000 + 0x1000 * u64::from(head), len as usize);
            got.len() == VNET_HDR_LEN + sent.len() && got[VNET_HDR_LEN..] == sent[..]
        });
        if received {
            break;
        }
        assert!(
            Instant::now() < deadline && slot < QSIZE,
            "the wire's frame never reached the guest"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

#[test]
fn a_real_tap_exchanges_a_frame_each_way() {
    if !std::path::Path::new("/dev/net/tun").exists() {
        println!("skipped: no /dev/net/tun on this host");
        return;
    }
    let outcome = std::thread::spawn(exchange_frames)
        .join()
        .expect("the tap test thread panicked");
    if let Err(reason) = outcome {
        println!("skipped: {reason}");
    }
}
