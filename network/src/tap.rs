//! Taps: `/dev/net/tun` opened with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR` and not made
//! persistent, so the interface exists exactly as long as an fd on it is open. The VMM
//! holds that fd: when it ends, even by kill -9, the kernel removes the tap.

use crate::error::{IoContext, Result};
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

const IFNAMSIZ: usize = 16;
/// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR: the three fit the ifreq's 16-bit flags.
const TAP_FLAGS: libc::c_short = {
    let flags = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR;
    assert!(flags <= libc::c_short::MAX as libc::c_int);
    #[allow(clippy::cast_possible_truncation)]
    let short = flags as libc::c_short;
    short
};

/// `struct ifreq` as TUNSETIFF reads it: a name and the flags (the rest is padding).
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

nix::ioctl_readwrite_bad!(tun_set_iff, libc::TUNSETIFF, IfReq);

/// A tap created in the calling thread's network namespace (call it inside
/// [`crate::in_namespace`]): its fd (close-on-exec, non-blocking) and its kernel-chosen
/// name (`tapN`).
pub fn create_tap() -> Result<(OwnedFd, String)> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .context(|| "cannot open /dev/net/tun".into())?;
    let mut request = IfReq {
        name: [0; IFNAMSIZ],
        flags: TAP_FLAGS,
        _pad: [0; 22],
    };
    request.name[..5].copy_from_slice(b"tap%d");
    // SAFETY: the fd is a /dev/net/tun fd we own and `request` is a valid, initialised
    // ifreq the kernel reads and writes (it fills in the chosen name) for the call only.
    unsafe { tun_set_iff(file.as_raw_fd(), &mut request) }
        .context(|| "cannot create a tap (TUNSETIFF)".into())?;
    let len = request
        .name
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(IFNAMSIZ);
    let name = String::from_utf8_lossy(&request.name[..len]).into_owned();
    Ok((file.into(), name))
}
