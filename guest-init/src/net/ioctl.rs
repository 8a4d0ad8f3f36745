//! The kernel side of interface configuration: the classic `SIOC*` ioctls on an AF_INET
//! datagram socket, as busybox `ifconfig` and `route` use them. Chosen over rtnetlink
//! (e.g. `netlink-packet-route`): one IPv4 address and one default route are all the guest
//! sets, these few ioctls need no dependency in the static PID 1, and they work on every
//! kernel the guest may run.

use super::address::Mac;
use nix::errno::Errno;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The kernel's `struct rtentry` (linux/route.h): libc only defines it for musl.
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

/// An AF_INET datagram socket: the handle the interface ioctls are made on.
pub struct InetSocket(OwnedFd);

/// An IPv4 socket address in the generic `sockaddr` the ioctls carry.
fn sockaddr_of(address: Ipv4Addr) -> libc::sockaddr {
    let inet = libc::sockaddr_in {
        sin_family: libc::sa_family_t::try_from(libc::AF_INET).unwrap_or_default(),
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(address).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr are both 16-byte plain-old-data structs; the
    // kernel reads a sockaddr of family AF_INET as a sockaddr_in.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(inet) }
}

/// A zeroed `ifreq` naming `name`; EINVAL if the name does not fit IFNAMSIZ with its NUL.
fn ifreq(name: &str) -> Result<libc::ifreq, Errno> {
    if name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(Errno::EINVAL);
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = libc::c_char::from_ne_bytes([src]);
    }
    Ok(req)
}

impl InetSocket {
    /// Opens the socket in the caller's network namespace.
    pub fn open() -> Result<Self, Errno> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(Errno::last());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// ioctl(2) with an `ifreq` (every request here but SIOCADDRT).
    fn ifreq_ioctl(&self, request: libc::c_ulong, req: &mut libc::ifreq) -> Result<(), Errno> {
        // SAFETY: every request passed here reads and/or writes only the ifreq we own,
        // which lives across the call.
        let result = unsafe { libc::ioctl(self.0.as_raw_fd(), request, std::ptr::from_mut(req)) };
        Errno::result(result).map(drop)
    }

    /// SIOCGIFHWADDR: the interface's hardware address.
    pub fn hardware_address(&self, name: &str) -> Result<Mac, Errno> {
        let mut req = ifreq(name)?;
        self.ifreq_ioctl(libc::SIOCGIFHWADDR, &mut req)?;
        // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
        let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
        let mut mac = [0u8; 6];
        for (dst, src) in mac.iter_mut().zip(data) {
            *dst = src.to_ne_bytes()[0];
        }
        Ok(Mac(mac))
    }

    /// SIOCSIFHWADDR: gives a (down) Ethernet interface the hardware address `mac`.
    pub fn set_hardware_address(&self, name: &str, mac: Mac) -> Result<(), Errno> {
        let mut req = ifreq(name)?;
        let mut address = libc::sockaddr {
            sa_family: libc::ARPHRD_ETHER,
            sa_data: [0; 14],
        };
        for (dst, src) in address.sa_data.iter_mut().zip(mac.0) {
            *dst = libc::c_char::from_ne_bytes([src]);
        }
        req.ifr_ifru.ifru_hwaddr = address;
        self.ifreq_ioctl(libc::SIOCSIFHWADDR, &mut req)
    }

    /// SIOCGIFMTU.
    pub fn mtu(&self, name: &str) -> Result<u32, Errno> {
        let mut req = ifreq(name)?;
        self.ifreq_ioctl(libc::SIOCGIFMTU, &mut req)?;
        // SAFETY: SIOCGIFMTU filled the mtu member of the union.
        let mtu = unsafe { req.ifr_ifru.ifru_mtu };
        u32::try_from(mtu).map_err(|_| Errno::EINVAL)
    }

    /// SIOCSIFNAME: renames a (down) interface.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), Errno> {
        let mut req = ifreq(from)?;
        let new_name = ifreq(to)?.ifr_name;
        // Writing a Copy array into the union needs no unsafe; ifru_newname is the member
        // SIOCSIFNAME reads.
        req.ifr_ifru.ifru_newname = new_name;
        self.ifreq_ioctl(libc::SIOCSIFNAME, &mut req)
    }

    /// SIOCSIFMTU.
    pub fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), Errno> {
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu).map_err(|_| Errno::EINVAL)?;
        self.ifreq_ioctl(libc::SIOCSIFMTU, &mut req)
    }

    /// SIOCSIFADDR: the interface's IPv4 address (the kernel first gives it the classful
    /// netmask; [`Self::set_netmask`] corrects it and the broadcast address).
    pub fn set_address(&self, name: &str, address: Ipv4Addr) -> Result<(), Errno> {
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_addr = sockaddr_of(address);
        self.ifreq_ioctl(libc::SIOCSIFADDR, &mut req)
    }

    /// SIOCSIFNETMASK.
    pub fn set_netmask(&self, name: &str, mask: Ipv4Addr) -> Result<(), Errno> {
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_netmask = sockaddr_of(mask);
        self.ifreq_ioctl(libc::SIOCSIFNETMASK, &mut req)
    }

    /// SIOCGIFFLAGS then SIOCSIFFLAGS with IFF_UP added.
    pub fn bring_up(&self, name: &str) -> Result<(), Errno> {
        let mut req = ifreq(name)?;
        self.ifreq_ioctl(libc::SIOCGIFFLAGS, &mut req)?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union, which we read and modify.
        unsafe {
            req.ifr_ifru.ifru_flags |= libc::c_short::try_from(libc::IFF_UP).unwrap_or_default();
        }
        self.ifreq_ioctl(libc::SIOCSIFFLAGS, &mut req)
    }

    /// SIOCADDRT: the default route (0.0.0.0/0) via `gateway`. No device is named: the
    /// kernel picks the interface whose subnet holds the gateway (ENETUNREACH if none).
    pub fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), Errno> {
        let mut route = RtEntry {
            rt_pad1: 0,
            rt_dst: sockaddr_of(Ipv4Addr::UNSPECIFIED),
            rt_gateway: sockaddr_of(gateway),
            rt_genmask: sockaddr_of(Ipv4Addr::UNSPECIFIED),
            rt_flags: libc::RTF_UP | libc::RTF_GATEWAY,
            rt_pad2: 0,
            rt_pad3: 0,
            rt_pad4: std::ptr::null_mut(),
            rt_metric: 0,
            rt_dev: std::ptr::null_mut(),
            rt_mtu: 0,
            rt_window: 0,
            rt_irtt: 0,
        };
        // SAFETY: SIOCADDRT reads a struct rtentry, laid out as the kernel's, that we own
        // for the duration of the call; rt_dev is null (no device name to read).
        let result = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SIOCADDRT,
                std::ptr::from_mut(&mut route),
            )
        };
        Errno::result(result).map(drop)
    }
}

/// The names of the interfaces of the caller's network namespace (if_nameindex(3)).
pub fn interface_names() -> Result<Vec<String>, Errno> {
    Ok(nix::net::if_::if_nameindex()?
        .iter()
        .map(|iface| iface.name().to_string_lossy().into_owned())
        .collect())
}
