//! What the virtio-net data path talks to on the host: one frame per call, each starting with
//! the 12-byte virtio-net header. A tap opened with `IFF_VNET_HDR` is exactly that
//! (`tap.rs`); tests use an in-memory queue or a `SOCK_DGRAM` socket pair instead.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;

/// The host end of a guest NIC, as the pure queue handler sees it.
pub trait NetBackend {
    /// Reads one frame (virtio-net header first) into `buf`; `WouldBlock` when none is
    /// waiting. A frame longer than `buf` is truncated (the caller sizes `buf` for the
    /// largest frame it accepts).
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Sends one frame (virtio-net header first).
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize>;
}

/// A host NIC the device can own: the data path plus what activation and the event loop
/// need (offload setup, an fd to wait on).
pub trait HostNic: NetBackend + AsRawFd + Send {
    /// Tells the host which offloads the guest accepts in received frames (`TUN_F_*`
    /// bits: the host then sends partial checksums and GSO frames of those kinds only).
    fn set_offload(&self, tun_flags: u32) -> io::Result<()>;
    /// Another handle on the same NIC (the data path and the event loop each hold one).
    fn try_clone_nic(&self) -> io::Result<Box<dyn HostNic>>;
}

impl<T: HostNic + ?Sized> NetBackend for Box<T> {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).recv_frame(buf)
    }

    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        (**self).send_frame(frame)
    }
}

/// A datagram socket keeps frame boundaries like a tap does, so one end of a
/// `UnixDatagram::pair()` (non-blocking) stands in for a tap: handy in tests, and for a
/// host side that switches frames in userspace.
impl NetBackend for UnixDatagram {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        retry_interrupted(|| self.recv(buf))
    }

    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        retry_interrupted(|| self.send(frame))
    }
}

impl HostNic for UnixDatagram {
    fn set_offload(&self, _tun_flags: u32) -> io::Result<()> {
        // A socket peer receives frames exactly as the guest sent them.
        Ok(())
    }

    fn try_clone_nic(&self) -> io::Result<Box<dyn HostNic>> {
        Ok(Box::new(self.try_clone()?))
    }
}

/// Runs `op` again while it fails with `EINTR`.
pub(super) fn retry_interrupted<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A NIC with no host side (`NetConfig` with neither a tap nor an fd): what the guest sends
/// goes nowhere, nothing is ever received, offloads are accepted as negotiated. A
/// warm-start zygote boots with one so that its restores can put a real tap in the same
/// slot. The fd the event loop waits on is an eventfd nothing writes.
pub struct NullNic {
    never: vmm_sys_util::eventfd::EventFd,
}

impl NullNic {
    /// A NIC whose frames go nowhere.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            never: vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK)?,
        })
    }
}

impl AsRawFd for NullNic {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.never.as_raw_fd()
    }
}

impl NetBackend for NullNic {
    fn recv_frame(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        Ok(frame.len())
    }
}

impl HostNic for NullNic {
    fn set_offload(&self, _tun_flags: u32) -> io::Result<()> {
        Ok(())
    }

    fn try_clone_nic(&self) -> io::Result<Box<dyn HostNic>> {
        Ok(Box::new(Self {
            never: self.never.try_clone()?,
        }))
    }
}
