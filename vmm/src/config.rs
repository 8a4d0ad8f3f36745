//! `VmConfig`: everything needed to boot a VM, as plain serde data (the CLI and `hull`
//! build one; `builder` turns it into a running VM).

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::arch::x86_64::cpuid::CpuVendor;
use crate::arch::x86_64::layout::CMDLINE_MAX_SIZE;
use crate::arch::x86_64::mptable::MAX_CPUS;
use crate::devices::virtio::net::is_valid_tap_name;

/// Kernel command line used when none is given: serial console, reset through the i8042
/// (the only reset hull-vmm offers besides triple fault), no PCI probing.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off";
/// Default guest RAM.
pub const DEFAULT_MEM_MIB: u32 = 128;
/// Largest guest RAM accepted (1 TiB).
pub const MAX_MEM_MIB: u32 = 1 << 20;

/// Errors in a `VmConfig` or a `--disk` argument.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Bad memory size.
    #[error("memory size {0} MiB is out of range: give 1 to {MAX_MEM_MIB} MiB")]
    MemSize(u32),
    /// Bad vCPU count.
    #[error("{0} vCPUs is out of range: give 1 to {MAX_CPUS}")]
    CpuCount(u8),
    /// Command line too long.
    #[error("kernel command line is {0} bytes, the limit is {max}: shorten --cmdline", max = CMDLINE_MAX_SIZE - 1)]
    CmdlineTooLong(usize),
    /// Malformed `--disk`.
    #[error("bad --disk {0:?}: use PATH[:ro][,serial=NAME]")]
    DiskSyntax(String),
    /// Disk serial longer than virtio-blk's 20-byte ID.
    #[error("disk serial {0:?} is longer than 20 bytes (virtio-blk ID limit)")]
    DiskSerial(String),
    /// Malformed `--virtio-console`.
    #[error("bad --virtio-console {0:?}: use socket=PATH")]
    ConsoleSyntax(String),
    /// A console socket path a unix socket address cannot hold.
    #[error("console socket path {} is {} bytes, the limit is {max}: use a shorter path", .0.display(), .0.as_os_str().len(), max = MAX_SOCKET_PATH_LEN)]
    ConsoleSocketPath(PathBuf),
    /// Two consoles on one socket path.
    #[error("console socket {} is given twice: each console needs its own path", .0.display())]
    ConsoleSocketTwice(PathBuf),
    /// Malformed `--net`.
    #[error(
        "bad --net {0:?}: use tap=NAME[,mac=XX:XX:XX:XX:XX:XX], fd=N[,mac=...] or none[,mac=...]"
    )]
    NetSyntax(String),
    /// A `--fs` value that is not `socket=PATH,tag=TAG`.
    #[error("invalid --fs {0:?}: expected socket=PATH,tag=TAG")]
    FsSyntax(String),
    /// A virtio-fs tag the config space cannot hold, or one given twice.
    #[error("virtio-fs tag {0:?} must be 1 to 36 bytes and unique")]
    FsTag(String),
    /// Malformed MAC address.
    #[error("bad MAC address {0:?}: use six hex bytes separated by ':', not a multicast address (first byte even)")]
    Mac(String),
    /// Both a tap and an fd.
    #[error("a network device takes a tap name or a tap fd, not both")]
    NetBackend,
    /// A tap name Linux would refuse.
    #[error("tap name {0:?} is empty, longer than 15 bytes, or contains '/', whitespace or NUL")]
    TapName(String),
    /// Two NICs on one tap.
    #[error("tap {0} is given twice: each network device needs its own tap")]
    TapTwice(String),
}

/// Where COM1's output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SerialOutput {
    /// The VMM's stdout (and stdin feeds COM1's input).
    #[default]
    Stdout,
    /// Appended to a file.
    File(PathBuf),
    /// Discarded.
    Null,
}

/// Which device carries the guest console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleKind {
    /// COM1 (ttyS0).
    #[default]
    Serial,
    /// virtio-console (hvc0).
    Virtio,
}

/// Longest unix socket path: `sun_path` holds 108 bytes including the NUL.
pub const MAX_SOCKET_PATH_LEN: usize = 107;

/// A virtio-console device backed by a unix socket hull-vmm creates and listens on, like
/// QEMU's `-chardev socket,server=on,wait=on`: the vCPUs start only once a peer has
/// connected, so the guest's first byte already has a reader. One connection per socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtioConsoleConfig {
    /// Where the listening socket is created (a stale socket there is replaced).
    pub socket: PathBuf,
}

impl FromStr for VirtioConsoleConfig {
    type Err = ConfigError;

    /// `socket=PATH`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("socket=") {
            Some(path) if !path.is_empty() => Ok(Self {
                socket: PathBuf::from(path),
            }),
            _ => Err(ConfigError::ConsoleSyntax(s.to_string())),
        }
    }
}

/// Which CPU vendor the guest is told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuVendorPolicy {
    /// Intel on emulation-only KVM (the compat profile: keeps Linux off AMD's x87
    /// FXSAVE_LEAK path, which that KVM cannot emulate), the host's otherwise.
    #[default]
    Auto,
    /// The host's.
    Host,
    /// "GenuineIntel".
    Intel,
    /// "AuthenticAMD".
    Amd,
}

/// Present when the host's /dev/kvm comes from the kvm_pvm module, whose KVM emulates
/// guest ring-0 code (a cheap check, unlike `kvm_probe`).
const KVM_PVM_MODULE: &str = "/sys/module/kvm_pvm";

/// Whether this host's KVM emulates guest ring-0 code (kvm_pvm): then hull-vmm applies
/// its compat CPUID (vendor per `CpuVendorPolicy::Auto`, unemulated features hidden).
pub fn emulation_only_kvm() -> bool {
    std::path::Path::new(KVM_PVM_MODULE).exists()
}

impl CpuVendorPolicy {
    /// The vendor override to apply on this host (None: keep the host's).
    pub fn resolve(self) -> Option<CpuVendor> {
        self.resolve_with(emulation_only_kvm())
    }

    fn resolve_with(self, emulation_only_kvm: bool) -> Option<CpuVendor> {
        match self {
            CpuVendorPolicy::Auto if emulation_only_kvm => Some(CpuVendor::Intel),
            CpuVendorPolicy::Auto | CpuVendorPolicy::Host => None,
            CpuVendorPolicy::Intel => Some(CpuVendor::Intel),
            CpuVendorPolicy::Amd => Some(CpuVendor::Amd),
        }
    }
}

impl FromStr for CpuVendorPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "host" => Ok(Self::Host),
            "intel" => Ok(Self::Intel),
            "amd" => Ok(Self::Amd),
            other => Err(format!(
                "unknown CPU vendor {other:?}: use auto, host, intel or amd"
            )),
        }
    }
}

/// One virtio-blk disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskConfig {
    /// Host file backing the disk.
    pub path: PathBuf,
    /// Read-only to the guest.
    #[serde(default)]
    pub read_only: bool,
    /// virtio-blk serial (GET_ID), how the guest tells disks apart.
    #[serde(default)]
    pub serial: Option<String>,
}

impl FromStr for DiskConfig {
    type Err = ConfigError;

    /// `PATH[:ro][,serial=NAME]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ConfigError::DiskSyntax(s.to_string());
        let (path_part, serial) = match s.split_once(",serial=") {
            Some((p, name)) if !name.is_empty() && !name.contains(',') => {
                (p, Some(name.to_string()))
            }
            Some(_) => return Err(syntax()),
            None => (s, None),
        };
        let (path, read_only) = match path_part.strip_suffix(":ro") {
            Some(p) => (p, true),
            None => (path_part, false),
        };
        if path.is_empty() {
            return Err(syntax());
        }
        if let Some(name) = &serial {
            if name.len() > 20 {
                return Err(ConfigError::DiskSerial(name.clone()));
            }
        }
        Ok(Self {
            path: PathBuf::from(path),
            read_only,
            serial,
        })
    }
}

/// A MAC address, written `02:00:00:00:00:01` (serde and the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// A random locally administered unicast address (`x2:..`), for a NIC given none.
    pub fn random() -> Self {
        let mut bytes = [0u8; 6];
        // SAFETY: getrandom writes at most `bytes.len()` bytes into `bytes`.
        let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
        if n != 6 {
            // No entropy source: still unique per process, which is all a VM's NIC needs.
            let pid = std::process::id().to_le_bytes();
            bytes[2..].copy_from_slice(&pid);
        }
        bytes[0] = (bytes[0] & 0xfc) | 0x02;
        Self(bytes)
    }
}

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::Mac(s.to_string());
        let mut bytes = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        // A guest NIC with a group address would receive every frame of that group.
        if parts.next().is_some() || bytes[0] & 1 != 0 {
            return Err(bad());
        }
        Ok(Self(bytes))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One virtio-net NIC on a host tap: opened by name in hull-vmm's network namespace, or
/// an fd the parent opened (e.g. inside the namespace holding the bridge) and passed down.
/// With neither the NIC has no backend (`--net none`): the guest's frames go nowhere and
/// nothing arrives. A warm-start zygote boots so; its restores give the slot a real tap
/// (the snapshot's layout fixes that a NIC is there, not what backs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Tap interface to attach to (created if the process may and it does not exist).
    #[serde(default)]
    pub tap: Option<String>,
    /// An inherited fd of a tap opened with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`.
    #[serde(default)]
    pub fd: Option<i32>,
    /// The guest's MAC address; a random locally administered one when absent.
    #[serde(default)]
    pub mac: Option<MacAddr>,
}

impl NetConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        match (&self.tap, self.fd) {
            (Some(name), None) => {
                if !is_valid_tap_name(name) {
                    return Err(ConfigError::TapName(name.clone()));
                }
                Ok(())
            }
            (None, Some(fd)) if fd >= 0 => Ok(()),
            (None, None) => Ok(()),
            (None, Some(fd)) => Err(ConfigError::NetSyntax(format!("fd={fd}"))),
            (Some(_), Some(_)) => Err(ConfigError::NetBackend),
        }
    }
}

impl FromStr for NetConfig {
    type Err = ConfigError;

    /// `tap=NAME[,mac=MAC]`, `fd=N[,mac=MAC]` or `none[,mac=MAC]`, keys in any order.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ConfigError::NetSyntax(s.to_string());
        let mut net = Self {
            tap: None,
            fd: None,
            mac: None,
        };
        let mut none = false;
        for item in s.split(',') {
            if item == "none" && !none {
                none = true;
                continue;
            }
            let (key, value) = item.split_once('=').ok_or_else(syntax)?;
            match key {
                "tap" if net.tap.is_none() => net.tap = Some(value.to_string()),
                "fd" if net.fd.is_none() => net.fd = Some(value.parse().map_err(|_| syntax())?),
                "mac" if net.mac.is_none() => net.mac = Some(value.parse()?),
                _ => return Err(syntax()),
            }
        }
        // A backend is named, or `none` says there is none on purpose.
        if none == (net.tap.is_some() || net.fd.is_some()) {
            return Err(syntax());
        }
        net.validate()?;
        Ok(net)
    }
}

/// A virtio-fs device served by a vhost-user backend (virtiofsd). Guest RAM is then
/// created shareable (a memfd) so the backend can map it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsConfig {
    /// The backend's vhost-user socket.
    pub socket: PathBuf,
    /// The tag the guest mounts.
    pub tag: String,
}

impl FromStr for FsConfig {
    type Err = ConfigError;

    /// `socket=PATH,tag=TAG`, keys in any order.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ConfigError::FsSyntax(s.to_string());
        let (mut socket, mut tag) = (None, None);
        for item in s.split(',') {
            match item.split_once('=').ok_or_else(syntax)? {
                ("socket", value) if socket.is_none() => socket = Some(PathBuf::from(value)),
                ("tag", value) if tag.is_none() => tag = Some(value.to_string()),
                _ => return Err(syntax()),
            }
        }
        match (socket, tag) {
            (Some(socket), Some(tag)) => Ok(Self { socket, tag }),
            _ => Err(syntax()),
        }
    }
}

/// A VM to boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    /// ELF vmlinux (PVH note or not) or bzImage.
    pub kernel: PathBuf,
    /// Optional initrd.
    #[serde(default)]
    pub initrd: Option<PathBuf>,
    /// Kernel command line; `DEFAULT_CMDLINE` when absent.
    #[serde(default)]
    pub cmdline: Option<String>,
    /// Guest RAM in MiB.
    #[serde(default = "default_mem_mib")]
    pub mem_mib: u32,
    /// vCPU count.
    #[serde(default = "default_cpus")]
    pub cpus: u8,
    /// virtio-blk disks, in guest order.
    #[serde(default)]
    pub disks: Vec<DiskConfig>,
    /// Console device.
    #[serde(default)]
    pub console: ConsoleKind,
    /// Socket-backed virtio-console devices. The guest names virtio consoles hvc0, hvc1, ...
    /// in attach order: `console`'s stdio hvc0 (when virtio) first, then these in order.
    #[serde(default)]
    pub virtio_consoles: Vec<VirtioConsoleConfig>,
    /// COM1 output.
    #[serde(default)]
    pub serial: SerialOutput,
    /// CPU vendor shown to the guest.
    #[serde(default)]
    pub cpu_vendor: CpuVendorPolicy,
    /// A virtio-balloon with free page reporting: memory the guest frees goes back to the
    /// host (the guest kernel needs VIRTIO_BALLOON).
    #[serde(default)]
    pub balloon: bool,
    /// A unix socket hull-vmm serves a QMP subset on (`stop`, `cont`, `query-status`):
    /// pausing and resuming the vCPUs (`hull pause`).
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
    /// virtio-net NICs, in guest order (eth0, eth1, ...).
    #[serde(default)]
    pub nets: Vec<NetConfig>,
    /// virtio-fs devices (vhost-user-fs), in order.
    #[serde(default)]
    pub fs: Vec<FsConfig>,
    /// Restore the snapshot in this directory (written by the control socket's
    /// `x-hull-snapshot`) instead of booting `kernel`: this config then gives the
    /// backends (disks, console sockets, taps, serial output, control socket) and must
    /// have the snapshot's memory size, vCPU count and device layout.
    #[serde(default)]
    pub restore: Option<PathBuf>,
}

fn default_mem_mib() -> u32 {
    DEFAULT_MEM_MIB
}

fn default_cpus() -> u8 {
    1
}

impl VmConfig {
    /// A config for `kernel` with every default.
    pub fn new(kernel: impl Into<PathBuf>) -> Self {
        Self {
            kernel: kernel.into(),
            initrd: None,
            cmdline: None,
            mem_mib: DEFAULT_MEM_MIB,
            cpus: 1,
            disks: Vec::new(),
            console: ConsoleKind::Serial,
            virtio_consoles: Vec::new(),
            serial: SerialOutput::Stdout,
            cpu_vendor: CpuVendorPolicy::Auto,
            balloon: false,
            control_socket: None,
            nets: Vec::new(),
            fs: Vec::new(),
            restore: None,
        }
    }

    /// The command line the kernel gets before devices append theirs.
    pub fn base_cmdline(&self) -> &str {
        self.cmdline.as_deref().unwrap_or(DEFAULT_CMDLINE)
    }

    /// Checks ranges that do not need the host (files are checked when opened).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mem_mib == 0 || self.mem_mib > MAX_MEM_MIB {
            return Err(ConfigError::MemSize(self.mem_mib));
        }
        if self.cpus == 0 || self.cpus > MAX_CPUS {
            return Err(ConfigError::CpuCount(self.cpus));
        }
        let len = self.base_cmdline().len();
        if len >= CMDLINE_MAX_SIZE {
            return Err(ConfigError::CmdlineTooLong(len));
        }
        for (index, console) in self.virtio_consoles.iter().enumerate() {
            let path = &console.socket;
            if path.as_os_str().len() > MAX_SOCKET_PATH_LEN {
                return Err(ConfigError::ConsoleSocketPath(path.clone()));
            }
            // A second listener on the path would replace the first one's socket.
            if self.virtio_consoles[..index]
                .iter()
                .any(|c| c.socket == *path)
            {
                return Err(ConfigError::ConsoleSocketTwice(path.clone()));
            }
        }
        for (index, fs) in self.fs.iter().enumerate() {
            let tag_taken = self.fs[..index].iter().any(|f| f.tag == fs.tag);
            if fs.tag.is_empty() || fs.tag.len() > 36 || tag_taken {
                return Err(ConfigError::FsTag(fs.tag.clone()));
            }
        }
        for (index, net) in self.nets.iter().enumerate() {
            net.validate()?;
            if let Some(name) = &net.tap {
                if self.nets[..index]
                    .iter()
                    .any(|n| n.tap.as_ref() == Some(name))
                {
                    return Err(ConfigError::TapTwice(name.clone()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_vendor_policy() {
        assert_eq!(
            CpuVendorPolicy::Auto.resolve_with(true),
            Some(CpuVendor::Intel)
        );
        assert_eq!(CpuVendorPolicy::Auto.resolve_with(false), None);
        assert_eq!(CpuVendorPolicy::Host.resolve_with(true), None);
        assert_eq!(
            CpuVendorPolicy::Amd.resolve_with(true),
            Some(CpuVendor::Amd)
        );
        assert_eq!("intel".parse(), Ok(CpuVendorPolicy::Intel));
        assert!("via".parse::<CpuVendorPolicy>().is_err());
    }

    #[test]
    fn disk_argument_forms() {
        let d: DiskConfig = "/a/b.img".parse().unwrap();
        assert_eq!(
            (d.path.to_str().unwrap(), d.read_only, d.serial),
            ("/a/b.img", false, None)
        );
        let d: DiskConfig = "/a/b.img:ro".parse().unwrap();
        assert!(d.read_only);
        let d: DiskConfig = "/a/b.img:ro,serial=hull-layer-0".parse().unwrap();
        assert_eq!(
            (d.read_only, d.serial.as_deref()),
            (true, Some("hull-layer-0"))
        );
        let d: DiskConfig = "/a/rw.img,serial=hull-rw".parse().unwrap();
        assert_eq!((d.read_only, d.serial.as_deref()), (false, Some("hull-rw")));
        assert!("".parse::<DiskConfig>().is_err());
        assert!(":ro".parse::<DiskConfig>().is_err());
        assert!("/x,serial=".parse::<DiskConfig>().is_err());
        assert_eq!(
            "/x,serial=abcdefghijklmnopqrstu".parse::<DiskConfig>(),
            Err(ConfigError::DiskSerial("abcdefghijklmnopqrstu".into()))
        );
    }

    #[test]
    fn virtio_console_argument_forms() {
        let c: VirtioConsoleConfig = "socket=/run/h/hvc1.sock".parse().unwrap();
        assert_eq!(c.socket, PathBuf::from("/run/h/hvc1.sock"));
        // Everything after `socket=` is the path, commas included.
        let c: VirtioConsoleConfig = "socket=/a,b".parse().unwrap();
        assert_eq!(c.socket, PathBuf::from("/a,b"));
        for bad in ["", "socket=", "/run/h.sock", "path=/x", "stdio"] {
            assert_eq!(
                bad.parse::<VirtioConsoleConfig>(),
                Err(ConfigError::ConsoleSyntax(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn console_sockets_are_validated() {
        let with = |paths: &[String]| {
            let mut c = VmConfig::new("/k");
            c.virtio_consoles = paths
                .iter()
                .map(|p| VirtioConsoleConfig { socket: p.into() })
                .collect();
            c.validate()
        };
        let longest = format!("/{}", "s".repeat(MAX_SOCKET_PATH_LEN - 1));
        assert_eq!(with(&["/a".into(), "/b".into(), longest.clone()]), Ok(()));
        let too_long = format!("{longest}x");
        assert_eq!(
            with(std::slice::from_ref(&too_long)),
            Err(ConfigError::ConsoleSocketPath(too_long.into()))
        );
        assert_eq!(
            with(&["/a".into(), "/b".into(), "/a".into()]),
            Err(ConfigError::ConsoleSocketTwice("/a".into()))
        );
        let cfg: VmConfig = serde_json::from_str(
            r#"{"kernel": "/k", "virtio_consoles": [{"socket": "/s0"}, {"socket": "/s1"}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.virtio_consoles[1].socket, PathBuf::from("/s1"));
        assert!(serde_json::from_str::<VmConfig>(
            r#"{"kernel": "/k", "virtio_consoles": [{"socket": "/s0", "nowait": true}]}"#
        )
        .is_err());
    }

    #[test]
    fn net_argument_forms() {
        let n: NetConfig = "tap=hull0".parse().unwrap();
        assert_eq!((n.tap.as_deref(), n.fd, n.mac), (Some("hull0"), None, None));
        let n: NetConfig = "tap=hull0,mac=02:00:0a:58:00:02".parse().unwrap();
        assert_eq!(n.mac, Some(MacAddr([2, 0, 0x0a, 0x58, 0, 2])));
        assert_eq!(n.mac.unwrap().to_string(), "02:00:0a:58:00:02");
        let n: NetConfig = "mac=02:00:00:00:00:01,fd=7".parse().unwrap();
        assert_eq!((n.tap, n.fd), (None, Some(7)));
        for bad in [
            "",
            "tap=",
            "hull0",
            "tap=a,tap=b",
            "tap=a,fd=3",
            "fd=-1",
            "fd=x",
            "mac=02:00:00:00:00:01",
            "tap=a,speed=10",
            "none,tap=a",
            "none,fd=3",
            "none,none",
            "mac=02:00:00:00:00:01,none,mac=02:00:00:00:00:02",
        ] {
            assert!(bad.parse::<NetConfig>().is_err(), "{bad:?}");
        }
        let n: NetConfig = "none,mac=02:00:00:00:00:01".parse().unwrap();
        assert_eq!((n.tap, n.fd), (None, None));
        assert_eq!(n.mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
        assert_eq!(
            "tap=sixteen-bytes-xx".parse::<NetConfig>(),
            Err(ConfigError::TapName("sixteen-bytes-xx".into()))
        );
        for bad in [
            "01:00:5e:00:00:01",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:0:0:0:0:1",
            "zz:00:00:00:00:01",
        ] {
            assert_eq!(
                bad.parse::<MacAddr>(),
                Err(ConfigError::Mac(bad.into())),
                "{bad:?}"
            );
        }
        let mac = MacAddr::random();
        assert_eq!(mac.0[0] & 3, 2, "locally administered unicast: {mac}");
    }

    #[test]
    fn nets_in_vm_config() {
        let cfg: VmConfig = serde_json::from_str(
            r#"{"kernel": "/k", "nets": [{"tap": "hull0", "mac": "02:00:00:00:00:09"}, {"fd": 5}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.nets[0].mac, Some(MacAddr([2, 0, 0, 0, 0, 9])));
        assert_eq!(cfg.nets[1].fd, Some(5));
        cfg.validate().unwrap();
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<VmConfig>(&json).unwrap(), cfg);
        assert!(serde_json::from_str::<VmConfig>(
            r#"{"kernel": "/k", "nets": [{"tap": "t", "mac": "ff:ff:ff:ff:ff:ff"}]}"#
        )
        .is_err());
        let mut twice = VmConfig::new("/k");
        twice.nets = vec!["tap=t0".parse().unwrap(), "tap=t0".parse().unwrap()];
        assert_eq!(twice.validate(), Err(ConfigError::TapTwice("t0".into())));
        let mut both = VmConfig::new("/k");
        both.nets = vec![NetConfig {
            tap: Some("t0".into()),
            fd: Some(3),
            mac: None,
        }];
        assert_eq!(both.validate(), Err(ConfigError::NetBackend));
        // Neither: a NIC with no backend (a warm-start zygote's).
        let cfg: VmConfig =
            serde_json::from_str(r#"{"kernel": "/k", "nets": [{"mac": "02:00:00:00:00:09"}]}"#)
                .unwrap();
        assert_eq!((cfg.nets[0].tap.as_ref(), cfg.nets[0].fd), (None, None));
        cfg.validate().unwrap();
    }

    #[test]
    fn serde_defaults_and_validation() {
        let cfg: VmConfig = serde_json::from_str(r#"{"kernel": "/k"}"#).unwrap();
        assert_eq!(cfg, VmConfig::new("/k"));
        assert_eq!(cfg.base_cmdline(), DEFAULT_CMDLINE);
        cfg.validate().unwrap();
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<VmConfig>(&json).unwrap(), cfg);
        assert!(serde_json::from_str::<VmConfig>(r#"{"kernel": "/k", "bogus": 1}"#).is_err());
        let cfg: VmConfig = serde_json::from_str(
            r#"{"kernel": "/k", "serial": {"file": "/tmp/log"}, "cpu_vendor": "intel"}"#,
        )
        .unwrap();
        assert_eq!(cfg.serial, SerialOutput::File("/tmp/log".into()));
        assert_eq!(cfg.cpu_vendor, CpuVendorPolicy::Intel);
        let bad = |f: fn(&mut VmConfig)| {
            let mut c = VmConfig::new("/k");
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(bad(|c| c.mem_mib = 0), ConfigError::MemSize(0));
        assert_eq!(bad(|c| c.cpus = 0), ConfigError::CpuCount(0));
        assert_eq!(bad(|c| c.cpus = 33), ConfigError::CpuCount(33));
        assert!(matches!(
            bad(|c| c.cmdline = Some("x".repeat(4000))),
            ConfigError::CmdlineTooLong(4000)
        ));
    }
}
