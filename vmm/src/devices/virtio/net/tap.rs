//! A tap device opened for a virtio-net backend: `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, a
//! 12-byte virtio-net header (virtio 1.x layout, `num_buffers` included) on every frame, and
//! offloads set from what the guest driver accepted.
//!
//! hull-vmm only opens the tap in the network namespace it runs in (or takes an fd opened
//! by its caller); it never creates bridges, addresses or routes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use super::backend::{retry_interrupted, HostNic, NetBackend};
use super::header::VNET_HDR_LEN;

/// The tun/tap clone device.
const TUN_DEVICE: &str = "/dev/net/tun";
/// Interface names hold at most 15 bytes (IFNAMSIZ with its NUL).
pub const MAX_TAP_NAME_LEN: usize = libc::IFNAMSIZ - 1;
/// The flags a tap must have to serve as a virtio-net backend.
const TAP_FLAGS: libc::c_int = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR;
/// The same, as the 16-bit `ifr_flags` member carries them (checked to fit).
#[allow(clippy::cast_possible_truncation)]
const TAP_IFR_FLAGS: libc::c_short = {
    assert!(TAP_FLAGS <= libc::c_short::MAX as libc::c_int);
    TAP_FLAGS as libc::c_short
};
/// The header length as TUNSETVNETHDRSZ takes it.
const VNET_HDR_SZ: libc::c_int = 12;
const _: () = assert!(VNET_HDR_LEN == 12);

/// Why a tap could not be opened or set up.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name does not fit an interface name.
    #[error("tap name {0:?} is empty, longer than 15 bytes, or contains '/', whitespace or NUL")]
    BadName(String),
    /// /dev/net/tun could not be opened.
    #[error("cannot open /dev/net/tun (is the tun module loaded, and does hull-vmm run with CAP_NET_ADMIN?)")]
    OpenTun(#[source] io::Error),
    /// TUNSETIFF refused the name.
    #[error("cannot attach to tap {name}: it must be a tap (not tun) device this process may use, created with vnet_hdr, or a free name")]
    SetIff {
        /// The interface.
        name: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// A passed fd is not a tap with the flags we need.
    #[error("fd {0} is not a tap opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR")]
    NotAVnetTap(RawFd),
    /// Another ioctl failed.
    #[error("cannot set up the tap ({what})")]
    Ioctl {
        /// Which request.
        what: &'static str,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
}

/// An open tap queue, non-blocking.
#[derive(Debug)]
pub struct Tap {
    file: File,
}

impl Tap {
    /// Opens (creating it if the process may) the tap interface `name` in the current
    /// network namespace.
    pub fn open(name: &str) -> Result<Self, TapError> {
        let mut ifr = ifreq_named(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN_DEVICE)
            .map_err(TapError::OpenTun)?;
        ifr.ifr_ifru.ifru_flags = TAP_IFR_FLAGS;
        // SAFETY: TUNSETIFF reads (and on success writes back the name into) the `ifreq` we
        // pass, which is fully initialised and outlives the call; `file` is an open tun fd.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut ifr) };
        if rc < 0 {
            return Err(TapError::SetIff {
                name: name.to_string(),
                source: io::Error::last_os_error(),
            });
        }
        let tap = Self { file };
        tap.set_vnet_hdr_len()?;
        Ok(tap)
    }

    /// Takes a tap fd opened by the caller (e.g. inside the network namespace that holds
    /// the bridge); it must have been opened with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`.
    pub fn from_fd(fd: OwnedFd) -> Result<Self, TapError> {
        let raw = fd.as_raw_fd();
        let mut ifr = zeroed_ifreq();
        // SAFETY: TUNGETIFF only writes the interface name and flags into the `ifreq` we
        // pass, which outlives the call; on a non-tun fd it fails without side effects.
        let rc = unsafe { libc::ioctl(raw, libc::TUNGETIFF, &mut ifr) };
        if rc < 0 {
            return Err(TapError::NotAVnetTap(raw));
        }
        // SAFETY: TUNGETIFF succeeded, so it stored the flags member of the union (and the
        // union started zeroed, so any member is initialised anyway).
        let flags = libc::c_int::from(unsafe { ifr.ifr_ifru.ifru_flags });
        if flags & TAP_FLAGS != TAP_FLAGS {
            return Err(TapError::NotAVnetTap(raw));
        }
        // SAFETY: F_GETFL/F_SETFL only read and set the status flags of the fd we own.
        let ok = unsafe {
            let fl = libc::fcntl(raw, libc::F_GETFL);
            fl >= 0 && libc::fcntl(raw, libc::F_SETFL, fl | libc::O_NONBLOCK) == 0
        };
        if !ok {
            return Err(TapError::Ioctl {
                what: "O_NONBLOCK",
                source: io::Error::last_os_error(),
            });
        }
        let tap = Self {
            file: File::from(fd),
        };
        tap.set_vnet_hdr_len()?;
        Ok(tap)
    }

    /// The virtio 1.x header (with `num_buffers`) on every frame, both ways.
    fn set_vnet_hdr_len(&self) -> Result<(), TapError> {
        let len = VNET_HDR_SZ;
        // SAFETY: TUNSETVNETHDRSZ reads one c_int through the pointer, which points to a
        // live local; the fd is an attached tap.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::TUNSETVNETHDRSZ, &len) };
        if rc < 0 {
            return Err(TapError::Ioctl {
                what: "TUNSETVNETHDRSZ",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// Whether Linux would take `name` as an interface name.
pub fn is_valid_tap_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TAP_NAME_LEN
        && !name
            .bytes()
            .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace())
}

/// An `ifreq` with `name` in it, after checking the name.
fn ifreq_named(name: &str) -> Result<libc::ifreq, TapError> {
    if !is_valid_tap_name(name) {
        return Err(TapError::BadName(name.to_string()));
    }
    let mut ifr = zeroed_ifreq();
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = libc::c_char::from_ne_bytes([src]);
    }
    Ok(ifr)
}

fn zeroed_ifreq() -> libc::ifreq {
    // SAFETY: ifreq is plain C data (a name array and a union of integers and addresses);
    // all-zero bytes are a valid value of it.
    unsafe { std::mem::zeroed() }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl NetBackend for Tap {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A tap read returns exactly one frame.
        retry_interrupted(|| (&self.file).read(buf))
    }

    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        // A tap write takes exactly one frame.
        retry_interrupted(|| (&self.file).write(frame))
    }
}

impl HostNic for Tap {
    fn set_offload(&self, tun_flags: u32) -> io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value (no pointer); the fd is an
        // attached tap.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(tun_flags),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn try_clone_nic(&self) -> io::Result<Box<dyn HostNic>> {
        Ok(Box::new(Self {
            file: self.file.try_clone()?,
        }))
    }
}

/// Takes ownership of an fd number inherited from the parent (`--net fd=N`), after
/// checking that it is open.
///
/// # Safety
/// If open, `fd` must be owned by the caller alone: nothing else may use or close it.
pub unsafe fn owned_fd(fd: RawFd) -> Result<OwnedFd, TapError> {
    // SAFETY: F_GETFD only reads the fd's flags; on a closed fd it fails with EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(TapError::NotAVnetTap(fd));
    }
    // SAFETY: `fd` is open, and the caller guarantees it is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_names_are_checked_before_any_syscall() {
        for bad in ["", "a/b", "with space", "sixteen-bytes-xx", "nul\0"] {
            assert!(
                matches!(Tap::open(bad), Err(TapError::BadName(_))),
                "{bad:?}"
            );
        }
        let ifr = ifreq_named("hull0").unwrap();
        let name: Vec<u8> = ifr.ifr_name[..6]
            .iter()
            .map(|c| c.to_ne_bytes()[0])
            .collect();
        assert_eq!(name, b"hull0\0");
    }

    #[test]
    fn a_non_tap_fd_is_refused() {
        let file = File::open("/dev/null").unwrap();
        let err = Tap::from_fd(OwnedFd::from(file)).unwrap_err();
        assert!(matches!(err, TapError::NotAVnetTap(_)), "{err}");
    }
}
