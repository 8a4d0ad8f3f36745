//! `-p`: a userspace proxy in the container's supervisor. It listens in the host's network
//! namespace and connects to the container's address inside the network's namespace (the
//! connecting socket is made there by the `Dialer`), so hull needs no route or firewall rule
//! in the host namespace. The listeners live exactly as long as this value: the supervisor
//! drops it when the VM ends, and the kernel closes them if the supervisor itself is
//! killed, so the host port is free again in every case.

use crate::container::network::{PortSpec, PublishedPort};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Makes sockets inside the container's network (TCP connections and UDP sockets connected
/// to the container's port).
pub trait Dialer: Send + Sync {
    /// A TCP connection to `target`.
    fn tcp(&self, target: SocketAddr) -> io::Result<TcpStream>;
    /// A UDP socket connected to `target`.
    fn udp(&self, target: SocketAddr) -> io::Result<UdpSocket>;
}

/// Connections one TCP port forwards at once; more wait in the listen backlog.
const MAX_TCP_CONNECTIONS: usize = 256;
/// Clients one UDP port tracks; the oldest is forgotten beyond this.
const MAX_UDP_CLIENTS: usize = 256;
/// A UDP client's flow is forgotten after this long without a reply.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// A host socket bound for one `-p`, not yet forwarding.
enum HostSocket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// The host sockets of a container's `-p` flags, bound before its VM boots so a port in
/// use fails the start at once.
pub struct BoundPorts {
    sockets: Vec<(HostSocket, PublishedPort)>,
}

impl BoundPorts {
    /// Binds every spec in the host namespace. Docker's error when a port is taken.
    pub fn bind(specs: &[PortSpec]) -> Result<Self, String> {
        let mut sockets = Vec::with_capacity(specs.len());
        for spec in specs {
            let ip = spec.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let address = SocketAddr::new(ip, spec.host_port.unwrap_or(0));
            let bound = match spec.protocol.as_str() {
                "udp" => UdpSocket::bind(address).map(HostSocket::Udp),
                _ => TcpListener::bind(address).map(HostSocket::Tcp),
            };
            let socket = bound.map_err(|err| {
                let shown = match ip {
                    IpAddr::V6(v6) => format!("[{v6}]:{}", address.port()),
                    IpAddr::V4(v4) => format!("{v4}:{}", address.port()),
                };
                if err.kind() == io::ErrorKind::AddrInUse {
                    format!("Bind for {shown} failed: port is already allocated")
                } else {
                    format!("cannot listen on {shown}: {err}")
                }
            })?;
            let local = match &socket {
                HostSocket::Tcp(listener) => listener.local_addr(),
                HostSocket::Udp(udp) => udp.local_addr(),
            }
            .map_err(|err| format!("cannot read the bound address: {err}"))?;
            sockets.push((
                socket,
                PublishedPort {
                    container_port: spec.container_port,
                    protocol: spec.protocol.clone(),
                    host_ip: ip.to_string(),
                    host_port: local.port(),
                },
            ));
        }
        Ok(Self { sockets })
    }

    /// What was bound, for the container's state.
    pub fn published(&self) -> Vec<PublishedPort> {
        self.sockets.iter().map(|(_, port)| port.clone()).collect()
    }

    /// Starts forwarding to the container at `target` through `dialer`.
    pub fn forward(self, target: Ipv4Addr, dialer: Arc<dyn Dialer>) -> PortProxies {
        let stop = Arc::new(AtomicBool::new(false));
        let mut proxies = PortProxies {
            stop: stop.clone(),
            fds: Vec::new(),
            threads: Vec::new(),
        };
        for (socket, port) in self.sockets {
            let to = SocketAddr::new(IpAddr::V4(target), port.container_port);
            let (dialer, stop) = (dialer.clone(), stop.clone());
            match socket {
                HostSocket::Tcp(listener) => {
                    proxies.fds.push(listener.as_raw_fd());
                    proxies.threads.push(std::thread::spawn(move || {
                        accept_loop(&listener, to, &dialer, &stop)
                    }));
                }
                HostSocket::Udp(udp) => {
                    let _ = udp.set_read_timeout(Some(Duration::from_millis(200)));
                    proxies.threads.push(std::thread::spawn(move || {
                        udp_loop(&udp, to, &dialer, &stop)
                    }));
                }
            }
        }
        proxies
    }
}

/// Forwarding host ports; dropping it closes them.
pub struct PortProxies {
    stop: Arc<AtomicBool>,
    /// The TCP listeners' fds, shut down to wake their accept loops.
    fds: Vec<std::os::fd::RawFd>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for PortProxies {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for fd in &self.fds {
            // SAFETY: shutdown(2) on a listener the accept thread still owns (it is joined
            // below, so the fd is open); it only wakes accept() with an error.
            unsafe { libc::shutdown(*fd, libc::SHUT_RDWR) };
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    to: SocketAddr,
    dialer: &Arc<dyn Dialer>,
    stop: &AtomicBool,
) {
    let active = Arc::new(AtomicUsize::new(0));
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else {
            continue;
        };
        if active.load(Ordering::SeqCst) >= MAX_TCP_CONNECTIONS {
            // Refused rather than queued without bound.
            continue;
        }
        let (dialer, active) = (dialer.clone(), active.clone());
        active.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            if let Ok(upstream) = dialer.tcp(to) {
                splice(client, upstream);
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Copies both ways until both sides are done; a half-close is passed on.
fn splice(client: TcpStream, upstream: TcpStream) {
    let (Ok(client_reader), Ok(upstream_writer)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let to_container = std::thread::spawn(move || {
        let (mut from, mut to) = (client_reader, upstream_writer);
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (upstream, client);
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = to_container.join();
}

/// One UDP client's flow: a socket in the network connected to the container's port.
struct UdpFlow {
    upstream: UdpSocket,
}

fn udp_loop(host: &UdpSocket, to: SocketAddr, dialer: &Arc<dyn Dialer>, stop: &Arc<AtomicBool>) {
    let flows: Arc<Mutex<HashMap<SocketAddr, UdpFlow>>> = Arc::default();
    let mut buffer = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let Ok((length, client)) = host.recv_from(&mut buffer) else {
            continue;
        };
        let mut table = flows.lock().unwrap_or_else(|e| e.into_inner());
        if !table.contains_key(&client) {
            if table.len() >= MAX_UDP_CLIENTS {
                continue;
            }
            let Ok(upstream) = dialer.udp(to) else {
                continue;
            };
            let _ = upstream.set_read_timeout(Some(UDP_IDLE.min(Duration::from_millis(500))));
            let (Ok(reader), Ok(replies)) = (upstream.try_clone(), host.try_clone()) else {
                continue;
            };
            table.insert(client, UdpFlow { upstream });
            let (flows, stop) = (flows.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reply = vec![0u8; 65536];
                let mut idle = Duration::ZERO;
                while !stop.load(Ordering::SeqCst) && idle < UDP_IDLE {
                    match reader.recv(&mut reply) {
                        Ok(n) => {
                            idle = Duration::ZERO;
                            let _ = replies.send_to(&reply[..n], client);
                        }
                        Err(_) => idle += Duration::from_millis(500),
                    }
                }
                flows
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&client);
            });
        }
        if let Some(flow) = table.get(&client) {
            let _ = flow.upstream.send(&buffer[..length]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Dials in this namespace (the tests' "container" listens on 127.0.0.1).
    struct Loopback;

    impl Dialer for Loopback {
        fn tcp(&self, target: SocketAddr) -> io::Result<TcpStream> {
            TcpStream::connect(target)
        }
        fn udp(&self, target: SocketAddr) -> io::Result<UdpSocket> {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.connect(target)?;
            Ok(socket)
        }
    }

    fn spec(protocol: &str, container_port: u16) -> PortSpec {
        PortSpec {
            host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            host_port: None,
            container_port,
            protocol: protocol.into(),
        }
    }

    #[test]
    fn tcp_is_forwarded_both_ways_and_the_port_is_freed_on_drop() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in server.incoming().take(2) {
                let mut stream = stream.unwrap();
                let mut request = Vec::new();
                stream.read_to_end(&mut request).unwrap();
                stream
                    .write_all(&[b"echo:", &request[..]].concat())
                    .unwrap();
            }
        });
        let bound = BoundPorts::bind(&[spec("tcp", port)]).unwrap();
        let published = bound.published();
        assert_eq!(published[0].host_ip, "127.0.0.1");
        assert_ne!(published[0].host_port, 0);
        let host_port = published[0].host_port;
        let proxies = bound.forward(Ipv4Addr::LOCALHOST, Arc::new(Loopback));
        for text in [&b"hello"[..], &[7u8; 300_000][..]] {
            let mut client = TcpStream::connect(("127.0.0.1", host_port)).unwrap();
            client.write_all(text).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, [&b"echo:"[..], text].concat());
        }
        drop(proxies);
        TcpListener::bind(("127.0.0.1", host_port)).expect("the port is free again");
    }

    #[test]
    fn a_taken_port_is_dockers_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut wanted = spec("tcp", 80);
        wanted.host_port = Some(taken.local_addr().unwrap().port());
        let err = BoundPorts::bind(&[wanted]).err().unwrap();
        assert_eq!(
            err,
            format!(
                "Bind for 127.0.0.1:{} failed: port is already allocated",
                taken.local_addr().unwrap().port()
            )
        );
    }

    #[test]
    fn udp_datagrams_and_replies_are_relayed() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 64];
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buffer).unwrap();
                server
                    .send_to(&[b"re:", &buffer[..n]].concat(), from)
                    .unwrap();
            }
        });
        let bound = BoundPorts::bind(&[spec("udp", port)]).unwrap();
        let host_port = bound.published()[0].host_port;
        let _proxies = bound.forward(Ipv4Addr::LOCALHOST, Arc::new(Loopback));
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.connect(("127.0.0.1", host_port)).unwrap();
        for text in ["ping", "again"] {
            client.send(text.as_bytes()).unwrap();
            let mut reply = [0u8; 64];
            let n = client.recv(&mut reply).unwrap();
            assert_eq!(&reply[..n], format!("re:{text}").as_bytes());
        }
    }
}
