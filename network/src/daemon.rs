//! The per-network daemon: the process that owns a network's namespace.
//!
//! `hull network-daemon NETWORK_ID` (launched detached through a [`DaemonCommand`]) runs
//! [`run`]: it calls unshare(CLONE_NEWNET) before anything else (and before any thread
//! exists, so every thread it starts lives in the new namespace), brings `lo` up, creates
//! the bridge [`BRIDGE`] with the gateway address and MTU [`MTU`], then records itself and
//! serves the network's DNS until the network has had no endpoints for the idle timeout.
//! Nothing is ever created in the host's namespace: if unshare fails, it stops there. The
//! namespace lives as long as the daemon (and any tap or socket fd made in it), so kill -9
//! of the daemon leaves nothing behind either.
//!
//! ## Files in the network's directory, and the protocol
//! - `daemon.pid`: the daemon holds an exclusive flock on it for its whole life (liveness
//!   that a stale pid can never fake: the kernel drops the lock when the process dies). It
//!   holds `PID STARTTIME TID NETNS_INODE` once the namespace and bridge are ready, and is
//!   empty before: the start time (from /proc/PID/stat) so that a reused pid is not
//!   mistaken for it, the thread that unshared (the namespace is per thread; it is the main
//!   thread in `hull network-daemon`) and the namespace's inode, which an attacher checks
//!   on the handle it opens so that it can never create a tap in any other namespace.
//! - `attach.lock`: an attacher ([`ensure_running`]) holds a *shared* lock on it from
//!   looking the daemon up until its lease (`endpoints/<ip>.json`) exists. The daemon
//!   decides to exit only while holding the *exclusive* lock, taken without waiting, after
//!   seeing the network unused (no lease, or no tap on the bridge: leases whose VMM died
//!   without detaching do not count) both before and after taking it; it empties `daemon.pid` and drops
//!   that lock before dropping the exclusive one. So an attacher either finds a daemon that
//!   will see its lease, or waits on its shared lock until the exiting daemon has
//!   unregistered, then starts a new one. Removing a network takes the exclusive lock too
//!   (blocking), so no attacher is mid-way while it checks for endpoints.
//! - `daemon.log`: the daemon's stderr.

use crate::dns::{serve_with_tcp, EndpointDir, Names, Upstream};
use crate::error::{Error, IoContext, Result};
use crate::locks;
use crate::netlink::Rtnl;
use crate::netns::NetnsHandle;
use crate::outbound::{self, Outbound};
use crate::store::{Network, NetworkStore};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Seek, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bridge in every network's namespace (it is alone there, so the name is fixed).
pub const BRIDGE: &str = "hull0";
/// The bridge's and the containers' MTU.
pub const MTU: u32 = 1500;
/// The lock attachers share and the exiting daemon takes exclusively.
pub const ATTACH_LOCK: &str = "attach.lock";
/// The daemon's liveness lock and `PID STARTTIME` record.
pub const PID_FILE: &str = "daemon.pid";
/// The daemon's stderr.
pub const LOG_FILE: &str = "daemon.log";
/// Seconds without endpoints after which a daemon exits (default 20; for tests).
pub const IDLE_TIMEOUT_ENV: &str = "HULL_NETWORK_IDLE_TIMEOUT";
/// How long an attacher waits for a daemon to have its namespace ready.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a network's daemon (`hull network-daemon` for the CLI): `program` with
/// `args`, then the network's full id. It must call [`run`].
#[derive(Debug, Clone)]
pub struct DaemonCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// The daemon's settings.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// How long the network may have no endpoints before the daemon exits.
    pub idle_timeout: Duration,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(20),
        }
    }
}

impl DaemonOptions {
    /// The defaults, with [`IDLE_TIMEOUT_ENV`] (seconds, fractions allowed) if set.
    pub fn from_env() -> Self {
        let mut options = Self::default();
        if let Some(seconds) = std::env::var(IDLE_TIMEOUT_ENV)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        {
            options.idle_timeout = Duration::from_secs_f64(seconds);
        }
        options
    }
}

/// The daemon of network `network_id` under `root`: call it first thing in a fresh process
/// (it unshares the calling thread's network namespace). Returns when the network has been
/// idle for `options.idle_timeout` or was removed, or at once if another daemon already
/// runs for it.
pub fn run(root: &Path, network_id: &str, options: &DaemonOptions) -> Result<()> {
    // The resolver's sockets to the host's nameservers are made in the host namespace,
    // before it is left (they stay there); nothing else is.
    let upstream = dns_upstream();
    // pasta (outbound) must be started in the host's namespace.
    let host = outbound::HostNamespace::open()?;
    // First, so that nothing below can touch the host's namespace. A mount namespace of its
    // own too: pasta opens the network's namespace through a bind mount only it sees.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET | nix::sched::CloneFlags::CLONE_NEWNS)
        .context(|| "cannot create the network's namespace (unshare)".into())?;
    outbound::make_mounts_private()?;
    // The spawner made it a process group of its own (a ^C at the terminal of the `hull
    // run` that started it does not reach it); a terminal hang-up must not end it either.
    // SAFETY: SIG_IGN installs no handler code; it only changes the disposition.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    let store = NetworkStore::open(root)?;
    let network = store
        .list()?
        .into_iter()
        .find(|network| network.id == network_id)
        .ok_or_else(|| Error::NotFound(network_id.to_string()))?;
    let (subnet, gateway) = network.addressing()?;
    let dir = store.network_dir(&network.id);
    let Some(mut registration) = locks::try_exclusive(&dir.join(PID_FILE))? else {
        tracing::debug!("network {}: a daemon already runs", network.name);
        return Ok(());
    };
    registration
        .set_len(0)
        .context(|| "cannot empty the daemon's pid file".into())?;

    let mut rtnl = Rtnl::open()?;
    let lo = rtnl.index_of("lo")?;
    rtnl.set_up(lo)?;
    let bridge = rtnl.create_bridge(BRIDGE, MTU)?;
    rtnl.add_address(bridge, gateway, subnet.prefix_len())?;
    rtnl.set_up(bridge)?;
    // A previous daemon's namespace file is of no use (its pasta, if still quitting,
    // watches it and goes at once).
    outbound::forget_stale(&dir);
    // Outbound is best effort: a network without it still serves its containers.
    let _outbound = match outbound::pasta_binary().filter(|_| !network.internal) {
        Some(pasta) => Outbound::start(&pasta, &host, &dir, subnet, &mut rtnl)
            .map_err(|err| tracing::warn!("network {}: no outbound traffic: {err}", network.name))
            .ok(),
        None => None,
    };
    drop(host);

    let me = std::process::id();
    let namespace = NetnsHandle::current()?.inode()?;
    let record = format!(
        "{me} {} {} {namespace}\n",
        start_time(me)?,
        nix::unistd::gettid()
    );
    registration
        .rewind()
        .and_then(|()| registration.write_all(record.as_bytes()))
        .context(|| "cannot record the daemon".into())?;
    serve_dns(&store, &network, gateway, upstream);

    let endpoints = store.endpoints_dir(&network.id);
    let poll =
        (options.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
    let mut idle_since: Option<Instant> = None;
    loop {
        std::thread::sleep(poll);
        if !dir.join("network.json").exists() {
            tracing::debug!("network {} was removed", network.name);
            return Ok(());
        }
        if is_used(&endpoints, &mut rtnl, bridge) {
            idle_since = None;
            continue;
        }
        if idle_since.get_or_insert_with(Instant::now).elapsed() < options.idle_timeout {
            continue;
        }
        // An attacher between looking us up and writing its lease holds the shared lock.
        let Some(attachers) = locks::try_exclusive(&dir.join(ATTACH_LOCK))? else {
            continue;
        };
        if is_used(&endpoints, &mut rtnl, bridge) {
            continue;
        }
        let _ = registration.set_len(0);
        drop(registration);
        drop(attachers);
        tracing::debug!("network {}: idle, exiting", network.name);
        return Ok(());
    }
}

/// The environment variable naming the nameservers the resolvers forward to: `none`, or
/// addresses separated by commas; the host's /etc/resolv.conf when unset. Tests set `none`
/// so no query ever leaves the host.
pub const DNS_UPSTREAM_ENV: &str = "HULL_NETWORK_DNS_UPSTREAM";

/// Where the resolver forwards names that are not the network's (None: nowhere).
fn dns_upstream() -> Option<Upstream> {
    let made = match std::env::var(DNS_UPSTREAM_ENV) {
        Ok(value) if value.trim() == "none" => return None,
        Ok(value) => Upstream::new(
            value
                .split(',')
                .filter_map(|server| server.trim().parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53)),
        ),
        Err(_) => Upstream::from_resolv_conf(Path::new("/etc/resolv.conf")),
    };
    made.map_err(|err| tracing::warn!(%err, "no upstream nameservers"))
        .ok()
}

/// No container names: Docker's default bridge resolves none (only `--link` entries in
/// /etc/hosts), so its resolver only forwards.
struct NoNames;

impl Names for NoNames {
    fn lookup(&self, _name: &str) -> Vec<Ipv4Addr> {
        Vec::new()
    }
}

/// Never set: the resolver ends with the daemon's process.
static DNS_STOP: AtomicBool = AtomicBool::new(false);

/// Starts the network's resolver on the gateway's port 53 (UDP and TCP), inside the
/// namespace; an `--internal` network forwards nowhere.
fn serve_dns(
    store: &NetworkStore,
    network: &Network,
    gateway: Ipv4Addr,
    upstream: Option<Upstream>,
) {
    let upstream = upstream.filter(|_| !network.internal);
    let names: Arc<dyn Names> = if network.is_default_bridge() {
        Arc::new(NoNames)
    } else {
        Arc::new(
            EndpointDir::new(store.endpoints_dir(&network.id)).with_network_name(&network.name),
        )
    };
    let address = SocketAddr::new(IpAddr::V4(gateway), 53);
    let sockets = UdpSocket::bind(address).and_then(|udp| Ok((udp, TcpListener::bind(address)?)));
    match sockets {
        Ok((udp, tcp)) => {
            std::thread::spawn(move || {
                if let Err(err) = serve_with_tcp(udp, tcp, names, upstream, &DNS_STOP) {
                    tracing::warn!(%err, "the network's resolver stopped");
                }
            });
        }
        Err(err) => tracing::warn!(%err, "network {}: no resolver on {address}", network.name),
    }
}

/// Whether a container uses the network: a lease exists *and* a tap is on the bridge. A
/// lease without any tap is a container whose VMM is gone without detaching (kill -9 of its
/// supervisor): it must not keep the namespace forever; the lease itself is reclaimed by
/// the next attach that finds its container dead. An attacher creates its tap before it
/// releases its shared lock, so under the exclusive lock this cannot miss a new one.
fn is_used(endpoints: &Path, rtnl: &mut Rtnl, bridge: u32) -> bool {
    let has_leases = crate::ipam::read_leases(endpoints).is_ok_and(|leases| !leases.is_empty());
    has_leases
        && rtnl
            .links()
            // Cannot tell: better stay.
            .map_or(true, |links| {
                links.iter().any(|link| link.controller == Some(bridge))
            })
}

/// The start time of process `pid` (field 22 of /proc/PID/stat, in clock ticks).
fn start_time(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).context(|| format!("cannot read {path}"))?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| Error::Daemon(format!("cannot parse {path}")))
}

/// What `daemon.pid` says.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    NotRunning,
    /// Alive, namespace not ready yet (or exiting).
    Starting,
    Ready(Daemon),
}

fn probe(dir: &Path) -> Result<Probe> {
    let path = dir.join(PID_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Probe::NotRunning),
        Err(err) => return Err(Error::io(format!("cannot open {}", path.display()), err)),
    };
    if !locks::is_held_exclusively(file, &path)? {
        return Ok(Probe::NotRunning);
    }
    let record = fs::read_to_string(&path).unwrap_or_default();
    let fields: Vec<u64> = record
        .split_whitespace()
        .map_while(|field| field.parse().ok())
        .collect();
    let &[pid, started, tid, namespace] = fields.as_slice() else {
        return Ok(Probe::Starting);
    };
    let (Ok(pid), Ok(tid)) = (u32::try_from(pid), u32::try_from(tid)) else {
        return Ok(Probe::Starting);
    };
    // A record left by an earlier daemon, not yet emptied by the new one: wait.
    Ok(if start_time(pid).ok() == Some(started) {
        Probe::Ready(Daemon {
            pid,
            tid,
            namespace,
        })
    } else {
        Probe::Starting
    })
}

/// A running daemon as its record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Daemon {
    pid: u32,
    /// The thread that unshared.
    tid: u32,
    /// The namespace's inode.
    namespace: u64,
}

impl Daemon {
    /// A handle on its namespace, checked to be the one it recorded and not ours.
    fn namespace(&self) -> Result<NetnsHandle> {
        let path = format!("/proc/{}/task/{}/ns/net", self.pid, self.tid);
        let netns = NetnsHandle::open(Path::new(&path))?;
        let inode = netns.inode()?;
        if inode != self.namespace || inode == NetnsHandle::current()?.inode()? {
            return Err(Error::Daemon(format!(
                "{path} is not the network's namespace (inode {inode}, recorded {})",
                self.namespace
            )));
        }
        Ok(netns)
    }
}

/// A handle on the namespace of `network`'s daemon, started (by `command`) if it does not
/// run, and the shared attach lock that keeps it from exiting: hold it until the lease is
/// written.
pub(crate) fn ensure_running(
    store: &NetworkStore,
    network: &Network,
    command: &DaemonCommand,
) -> Result<(NetnsHandle, locks::Held)> {
    let dir = store.network_dir(&network.id);
    if !dir.join("network.json").exists() {
        return Err(Error::NotFound(network.name.clone()));
    }
    let attachers = locks::shared(&dir.join(ATTACH_LOCK))?;
    // Removed while we waited for the lock.
    if !dir.join("network.json").exists() {
        return Err(Error::NotFound(network.name.clone()));
    }
    let deadline = Instant::now() + START_TIMEOUT;
    let mut started: Option<Child> = None;
    loop {
        match probe(&dir)? {
            Probe::Ready(daemon) => {
                let netns = daemon.namespace()?;
                // Still the same process now that its namespace is held open?
                if probe(&dir)? == Probe::Ready(daemon) {
                    if let Some(mut child) = started {
                        // Reap the daemon when it ends; it outlives nothing of ours.
                        std::thread::spawn(move || child.wait());
                    }
                    return Ok((netns, attachers));
                }
            }
            Probe::NotRunning => {
                let ours_running = match started.as_mut() {
                    Some(child) => check_child(child, &dir)?,
                    None => false,
                };
                if !ours_running {
                    started = Some(spawn(command, network, &dir)?);
                }
            }
            Probe::Starting => {
                if let Some(child) = started.as_mut() {
                    check_child(child, &dir)?;
                }
            }
        }
        if Instant::now() > deadline {
            if let Some(mut child) = started {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(Error::Daemon(format!(
                "network {}: its namespace was not ready after {}s{}",
                network.name,
                START_TIMEOUT.as_secs(),
                log_tail(&dir)
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the daemon we started still runs; an error (with its log) if it failed. One
/// that exited 0 found another daemon running.
fn check_child(child: &mut Child, dir: &Path) -> Result<bool> {
    match child
        .try_wait()
        .context(|| "cannot wait for the network's daemon".into())?
    {
        None => Ok(true),
        Some(status) if status.success() => Ok(false),
        Some(status) => Err(Error::Daemon(format!(
            "it failed ({status}){}",
            log_tail(dir)
        ))),
    }
}

fn spawn(command: &DaemonCommand, network: &Network, dir: &Path) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let log_path = dir.join(LOG_FILE);
    let log =
        File::create(&log_path).context(|| format!("cannot create {}", log_path.display()))?;
    let log_again = log
        .try_clone()
        .context(|| "cannot duplicate a file".into())?;
    Command::new(&command.program)
        .args(&command.args)
        .arg(&network.id)
        .stdin(Stdio::null())
        .stdout(log_again)
        .stderr(log)
        // Out of the caller's process group: a ^C meant for `hull run` must not reach it.
        .process_group(0)
        .spawn()
        .context(|| format!("cannot start {}", command.program.display()))
}

fn log_tail(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
    let log = log.trim();
    if log.is_empty() {
        String::new()
    } else {
        let start = log.len().saturating_sub(2000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(0);
        format!(": {}", &log[start..])
    }
}

/// The pid of `network`'s daemon if it is up with its namespace ready.
pub fn running(store: &NetworkStore, network: &Network) -> Option<u32> {
    match probe(&store.network_dir(&network.id)) {
        Ok(Probe::Ready(daemon)) => Some(daemon.pid),
        _ => None,
    }
}

/// Stops `network`'s daemon if one runs (the network is being removed) and waits briefly
/// for it to end.
pub(crate) fn stop(store: &NetworkStore, network: &Network) {
    let Some(pid) = running(store, network) else {
        return;
    };
    let Ok(pid_i32) = i32::try_from(pid) else {
        return;
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid_i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let dir = store.network_dir(&network.id);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && probe(&dir).is_ok_and(|p| p != Probe::NotRunning) {
        std::thread::sleep(Duration::from_millis(10));
    }
}
