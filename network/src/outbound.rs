//! Outbound traffic from a network's namespace, through pasta (Debian's `passt`).
//!
//! pasta runs in the host's namespace and gives the network's namespace a tap interface
//! ([`OUT_IFNAME`]) with the host's address and default route copied (`--config-net`);
//! what leaves through it becomes ordinary sockets of the pasta process on the host, so the
//! host's interfaces, routes and firewall stay untouched. Connections to the host's
//! default gateway address are mapped to the host's own 127.0.0.1 (pasta's gateway
//! mapping): that address is what `--add-host NAME:host-gateway` gives a container.
//! Inside the namespace the containers' subnet is forwarded and masqueraded to the tap's
//! address (iptables, in that namespace only). pasta is the daemon's child, killed when the
//! daemon returns; when the daemon is killed instead, pasta (which loses PR_SET_PDEATHSIG
//! as it drops privileges) quits by itself within ~2 s, as the bind mount it watches goes
//! with the daemon's mount namespace (measured: `tests/tests/network.rs`). It forwards no
//! port of either side (`-t/-u/-T/-U none`).
//!
//! pasta opens the namespace by path and, run by root, refuses `/proc/PID/ns/net`; the
//! daemon bind-mounts its namespace onto [`NETNS_FILE`] in a mount namespace of its own
//! (private propagation), so the host's mount table never shows it.

use crate::error::{Error, IoContext, Result};
use crate::netlink::Rtnl;
use crate::netns::NetnsHandle;
use ipnet::Ipv4Net;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tap pasta creates in the network's namespace.
pub const OUT_IFNAME: &str = "hullout0";
/// The empty file in the network's directory the daemon's namespace is bind-mounted on
/// (only inside the daemon's own mount namespace).
pub const NETNS_FILE: &str = "netns";
/// pasta's log in the network's directory.
pub const LOG_FILE: &str = "pasta.log";
/// `none` turns outbound off (tests: no container traffic may leave hull's namespaces); a
/// path names the pasta binary; unset: `pasta` on PATH.
pub const PASTA_ENV: &str = "HULL_NETWORK_PASTA";
/// How long pasta may take to configure its interface.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The pasta binary outbound traffic goes through, if outbound is on and pasta installed.
pub fn pasta_binary() -> Option<PathBuf> {
    match std::env::var_os(PASTA_ENV) {
        Some(value) if value == "none" => None,
        Some(value) if !value.is_empty() => Some(PathBuf::from(value)),
        _ => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pasta"))
                .find(|candidate| candidate.is_file())
        }),
    }
}

/// What containers of a network (internal or not) can reach beyond it, in words, for
/// `hull info` and `network inspect`.
pub fn describe(internal: bool) -> String {
    if internal {
        return "none: an --internal network has no way out".into();
    }
    match pasta_binary() {
        Some(pasta) => format!(
            "through pasta ({}): the host (its 127.0.0.1 at the host-gateway address, \
             --add-host NAME:host-gateway) and beyond; no route or firewall rule in the \
             host's namespace",
            pasta.display()
        ),
        None if std::env::var_os(PASTA_ENV).is_some_and(|v| v == "none") => {
            format!("none: turned off ({PASTA_ENV}=none)")
        }
        None => "none: install Debian's passt (apt-get install passt) for containers to \
                 reach the host and beyond; they reach their own network's containers and are \
                 reached through -p"
            .into(),
    }
}

/// The address `host-gateway` stands for: the host's IPv4 default gateway, which pasta
/// maps to the host's 127.0.0.1. None without outbound or without a default route.
pub fn host_gateway() -> Option<Ipv4Addr> {
    pasta_binary()?;
    let routes = std::fs::read_to_string("/proc/net/route").ok()?;
    default_gateway(&routes)
}

/// The gateway of the default route in `/proc/net/route`'s text.
fn default_gateway(routes: &str) -> Option<Ipv4Addr> {
    routes.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (destination, gateway) = (fields.get(1)?, fields.get(2)?);
        if *destination != "00000000" {
            return None;
        }
        let raw = u32::from_str_radix(gateway, 16).ok()?;
        // The kernel prints the network-order address as a host-order number.
        let address = Ipv4Addr::from(raw.to_ne_bytes());
        (!address.is_unspecified()).then_some(address)
    })
}

/// The host's network namespace, opened before the daemon leaves it: pasta must start there.
pub struct HostNamespace(OwnedFd);

impl HostNamespace {
    /// The calling thread's namespace (call before unshare).
    pub fn open() -> Result<Self> {
        Ok(Self(NetnsHandle::current()?.into()))
    }
}

/// pasta serving one network's namespace; stopped when dropped. (PR_SET_PDEATHSIG is set
/// too, but pasta loses it when it drops its privileges.)
pub struct Outbound {
    child: Child,
}

impl Outbound {
    /// Starts pasta for the namespace of the calling thread (the daemon's, with `bridge`
    /// already up) and masquerades `subnet` through it. `dir` is the network's directory.
    /// The caller's mount namespace must be its own and private ([`make_mounts_private`]).
    pub fn start(
        pasta: &Path,
        host: &HostNamespace,
        dir: &Path,
        subnet: Ipv4Net,
        rtnl: &mut Rtnl,
    ) -> Result<Self> {
        let netns_file = dir.join(NETNS_FILE);
        bind_own_namespace(&netns_file)?;
        let log = File::create(dir.join(LOG_FILE))
            .context(|| format!("cannot create {}", dir.join(LOG_FILE).display()))?;
        let log_err = log
            .try_clone()
            .context(|| "cannot duplicate pasta's log".into())?;
        let mut command = Command::new(pasta);
        command
            .args(["--quiet", "--foreground", "--runas", "0", "--ipv4-only"])
            .args(["--config-net", "--ns-ifname", OUT_IFNAME])
            .args(["-t", "none", "-u", "none", "-T", "none", "-U", "none"])
            .arg("--netns")
            .arg(&netns_file)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let host_fd = host.0.as_raw_fd();
        // SAFETY: between fork and exec the child only makes two system calls (setns and
        // prctl), both async-signal-safe; `host_fd` stays open in the parent meanwhile.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(host_fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .context(|| format!("cannot start {}", pasta.display()))?;
        let mut outbound = Self { child };
        outbound.wait_for_interface(rtnl, dir)?;
        enable_forwarding()?;
        masquerade(subnet)?;
        Ok(outbound)
    }

    /// Waits until pasta's tap exists with an address (pasta configures it at start).
    fn wait_for_interface(&mut self, rtnl: &mut Rtnl, dir: &Path) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(link) = rtnl.link(OUT_IFNAME)? {
                if !rtnl.addresses(link.index)?.is_empty() {
                    return Ok(());
                }
            }
            let exited = self
                .child
                .try_wait()
                .context(|| "cannot check on pasta".into())?;
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
                return Err(Error::Daemon(format!(
                    "pasta did not set up {OUT_IFNAME} ({}): {}",
                    exited.map_or_else(|| "timed out".to_string(), |s| s.to_string()),
                    log.lines()
                        .filter(|l| !l.contains("syslog"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the mount namespace the daemon unshared (CLONE_NEWNS) private, so that nothing
/// mounted in it ever propagates to the host's.
pub fn make_mounts_private() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context(|| "cannot make the daemon's mounts private".into())
}

/// Bind-mounts the calling thread's network namespace onto `file`, in the daemon's own
/// mount namespace (see [`make_mounts_private`]).
fn bind_own_namespace(file: &Path) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    File::create(file).context(|| format!("cannot create {}", file.display()))?;
    mount(
        Some("/proc/thread-self/ns/net"),
        file,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .context(|| {
        format!(
            "cannot bind the network's namespace onto {}",
            file.display()
        )
    })
}

/// Removes the namespace file a previous daemon of the network in `dir` bound: its pasta,
/// if still running, watches the file and quits when it is deleted. Call only holding the
/// network's daemon lock (no live daemon uses the file then).
pub fn forget_stale(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(NETNS_FILE));
}

/// Routes between the bridge and pasta's tap (this namespace's own sysctl).
fn enable_forwarding() -> Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .context(|| "cannot enable forwarding in the network's namespace".into())
}

/// Containers' connections leave with the tap's address (pasta answers only that one).
fn masquerade(subnet: Ipv4Net) -> Result<()> {
    let status = Command::new("iptables")
        .args(["-w", "-t", "nat", "-A", "POSTROUTING", "-s"])
        .arg(subnet.to_string())
        .args(["-o", OUT_IFNAME, "-j", "MASQUERADE"])
        .stdin(Stdio::null())
        .status()
        .context(|| "cannot run iptables (apt-get install iptables)".into())?;
    if !status.success() {
        return Err(Error::Daemon(format!(
            "iptables could not masquerade {subnet} in the network's namespace ({status})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_routes_gateway_is_read_in_host_byte_order() {
        let routes = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                      eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n\
                      eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert_eq!(default_gateway(routes), Some(Ipv4Addr::new(192, 0, 2, 1)));
        let no_default = "Iface\tDestination\tGateway\n eth0\t000200C0\t00000000\n";
        assert_eq!(default_gateway(no_default), None);
        assert_eq!(default_gateway(""), None);
    }

    #[test]
    fn internal_networks_have_no_way_out() {
        assert!(describe(true).starts_with("none"));
    }
}
