//! Relaying queries to the host's nameservers: sockets made in the host namespace, an id
//! per forwarded query, a bounded table of queries awaiting a reply.

use super::answer::{ForwardedQuery, Transport};
use hickory_proto::op::{Message, ResponseCode};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// As many nameservers as glibc reads from resolv.conf (MAXNS), and as Docker's `maxExtDNS`.
pub(super) const MAX_NAMESERVERS: usize = 3;

/// How long one nameserver has to answer before the next is asked (or the client told
/// SERVFAIL): below the 5 s a client waits by default, so the client hears an answer.
pub(super) const NAMESERVER_TIMEOUT: Duration = Duration::from_secs(2);

/// Queries awaiting a nameserver's reply at most; more are refused at once (Docker answers
/// REFUSED past its own limit), so a flood from a container grows neither memory nor threads.
pub(super) const MAX_IN_FLIGHT: usize = 256;

/// How often the relay threads look at the stop flag and at expired queries.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The host's nameservers and the sockets that reach them.
///
/// Build it before the daemon enters the network's namespace: the sockets stay in the
/// namespace they were made in, so nameservers on the host's loopback (a 127.0.0.53 stub
/// resolver) are reachable from the network's resolver too.
#[derive(Debug)]
pub struct Upstream {
    servers: Vec<SocketAddr>,
    ipv4: Option<UdpSocket>,
    ipv6: Option<UdpSocket>,
}

impl Upstream {
    /// Relays to `servers` (the first [`MAX_NAMESERVERS`]), in order: the next is asked when
    /// one does not answer in time or answers SERVFAIL or REFUSED, as Docker does.
    pub fn new(servers: impl IntoIterator<Item = SocketAddr>) -> io::Result<Self> {
        let servers: Vec<SocketAddr> = servers.into_iter().take(MAX_NAMESERVERS).collect();
        let bind = |address: IpAddr| UdpSocket::bind(SocketAddr::new(address, 0));
        let ipv4 = if servers.iter().any(SocketAddr::is_ipv4) {
            Some(bind(Ipv4Addr::UNSPECIFIED.into())?)
        } else {
            None
        };
        let ipv6 = if servers.iter().any(SocketAddr::is_ipv6) {
            // A host without IPv6 still has its IPv4 nameservers.
            match bind(Ipv6Addr::UNSPECIFIED.into()) {
                Ok(socket) => Some(socket),
                Err(error) => {
                    tracing::warn!(%error, "IPv6 nameservers unreachable");
                    None
                }
            }
        } else {
            None
        };
        Ok(Upstream {
            servers,
            ipv4,
            ipv6,
        })
    }

    /// The nameservers of a resolv.conf file (the host's `/etc/resolv.conf`), port 53.
    pub fn from_resolv_conf(path: &Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Self::new(
            parse_resolv_conf(&text)
                .into_iter()
                .map(|address| SocketAddr::new(address, 53)),
        )
    }

    /// The nameservers queries are relayed to, in order.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    fn socket_for(&self, server: SocketAddr) -> Option<&UdpSocket> {
        match server {
            SocketAddr::V4(_) => self.ipv4.as_ref(),
            SocketAddr::V6(_) => self.ipv6.as_ref(),
        }
    }

    fn sockets(&self) -> impl Iterator<Item = &UdpSocket> {
        self.ipv4.iter().chain(self.ipv6.iter())
    }
}

/// The `nameserver` addresses of a resolv.conf text, in order. Scoped IPv6 addresses
/// (`fe80::1%eth0`) are left out: the scope names an interface of the host.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|address| address.parse().ok())
        .collect()
}

/// Where the reply to a forwarded query goes.
#[derive(Debug, Clone)]
pub(super) enum Client {
    /// A UDP client, answered from the resolver's socket.
    Udp(SocketAddr),
    /// A TCP connection's thread, waiting for the reply.
    Tcp(SyncSender<Vec<u8>>),
}

/// One query awaiting a nameserver's reply.
struct InFlight {
    query: ForwardedQuery,
    client: Client,
    /// The query as sent upstream: the client's bytes with hull's own id.
    packet: Vec<u8>,
    /// Index in `Upstream::servers` of the nameserver asked last.
    server: usize,
    deadline: Instant,
}

/// The forwarding half of [`super::serve`]: sends queries upstream and relays the replies to
/// the clients through `replies` (the resolver's own socket).
pub(super) struct Forwarder {
    upstream: Upstream,
    replies: UdpSocket,
    in_flight: Mutex<HashMap<u16, InFlight>>,
}

impl Forwarder {
    pub(super) fn new(upstream: Upstream, replies: UdpSocket) -> io::Result<Self> {
        for socket in upstream.sockets() {
            socket.set_read_timeout(Some(POLL_INTERVAL))?;
        }
        Ok(Forwarder {
            upstream,
            replies,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Relays `packet` (the client's bytes of `query`) to the first nameserver.
    pub(super) fn forward(&self, query: ForwardedQuery, packet: &[u8], client: Client) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight.len() >= MAX_IN_FLIGHT {
            drop(in_flight);
            tracing::debug!("more than {MAX_IN_FLIGHT} queries forwarded, refusing");
            self.reply(&query.failure(ResponseCode::Refused), &client);
            return;
        }
        // A fresh unpredictable id per forwarded query: clients' ids may collide, and an
        // off-path guess should not be able to answer for the nameserver.
        let id = loop {
            let id = random_id();
            if !in_flight.contains_key(&id) {
                break id;
            }
        };
        let packet = match query.transport() {
            Transport::Udp => Some(packet.to_vec()),
            Transport::Tcp => query.for_tcp_client(),
        };
        let Some(mut packet) = packet.filter(|packet| packet.len() >= 2) else {
            self.reply(&query.failure(ResponseCode::ServFail), &client);
            return;
        };
        packet[..2].copy_from_slice(&id.to_be_bytes());
        let entry = InFlight {
            query,
            client,
            packet,
            server: 0,
            deadline: Instant::now(),
        };
        if let Some(entry) = self.send_from(entry, 0) {
            in_flight.insert(id, entry);
        }
    }

    /// Sends the query to the first nameserver from `first` on that takes it; when none
    /// does, tells the client SERVFAIL (Docker's answer when no nameserver answered).
    fn send_from(&self, mut entry: InFlight, first: usize) -> Option<InFlight> {
        for (index, &server) in self.upstream.servers.iter().enumerate().skip(first) {
            let Some(socket) = self.upstream.socket_for(server) else {
                continue;
            };
            match socket.send_to(&entry.packet, server) {
                Ok(_) => {
                    entry.server = index;
                    entry.deadline = Instant::now() + NAMESERVER_TIMEOUT;
                    return Some(entry);
                }
                Err(error) => tracing::debug!(%server, %error, "cannot reach a nameserver"),
            }
        }
        self.reply(&entry.query.failure(ResponseCode::ServFail), &entry.client);
        None
    }

    /// Relays the replies arriving on `socket` until `stop` is set.
    pub(super) fn relay_replies(&self, socket: &UdpSocket, stop: &AtomicBool) {
        let mut buffer = vec![0u8; 65535];
        while !stop.load(Ordering::Relaxed) {
            match socket.recv_from(&mut buffer) {
                Ok((len, from)) => self.relay(&mut buffer[..len], from),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(error) => {
                    tracing::warn!(%error, "reading the nameservers' replies failed");
                    std::thread::sleep(POLL_INTERVAL);
                }
            }
            self.expire(Instant::now());
        }
    }

    pub(super) fn sockets(&self) -> impl Iterator<Item = &UdpSocket> {
        self.upstream.sockets()
    }

    /// Hands a nameserver's reply to the client that asked, if it is the reply awaited.
    fn relay(&self, reply: &mut [u8], from: SocketAddr) {
        let Some(id) = reply.get(..2).map(|id| u16::from_be_bytes([id[0], id[1]])) else {
            return;
        };
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = in_flight.get(&id) else {
            return;
        };
        if self.upstream.servers.get(entry.server) != Some(&from) {
            return;
        }
        let Ok(message) = Message::from_vec(reply) else {
            tracing::debug!(%from, "undecodable reply from a nameserver");
            return;
        };
        if !entry.query.is_answered_by(&message) {
            return;
        }
        let Some(entry) = in_flight.remove(&id) else {
            return;
        };
        if matches!(
            message.metadata.response_code,
            ResponseCode::ServFail | ResponseCode::Refused
        ) {
            // Docker asks the next nameserver on these: they may be passing states.
            let next = entry.server + 1;
            if next < self.upstream.servers.len() {
                if let Some(entry) = self.send_from(entry, next) {
                    in_flight.insert(id, entry);
                }
                return;
            }
        }
        drop(in_flight);
        reply[..2].copy_from_slice(&entry.query.id().to_be_bytes());
        match entry.query.transport() {
            Transport::Udp => self.reply(reply, &entry.client),
            Transport::Tcp => match entry.query.reply_for_tcp_client(reply) {
                Some(reply) => self.reply(&reply, &entry.client),
                None => self.reply(&entry.query.failure(ResponseCode::ServFail), &entry.client),
            },
        }
    }

    /// Asks the next nameserver for queries whose nameserver did not answer in time.
    fn expire(&self, now: Instant) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let expired: Vec<u16> = in_flight
            .iter()
            .filter(|(_, entry)| entry.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if let Some(entry) = in_flight.remove(&id) {
                let next = entry.server + 1;
                if let Some(entry) = self.send_from(entry, next) {
                    in_flight.insert(id, entry);
                }
            }
        }
    }

    /// Tells every client still waiting that no answer is coming (at shutdown).
    pub(super) fn fail_all(&self) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for (_, entry) in in_flight.drain() {
            self.reply(&entry.query.failure(ResponseCode::ServFail), &entry.client);
        }
    }

    pub(super) fn reply(&self, bytes: &[u8], client: &Client) {
        if bytes.is_empty() {
            return;
        }
        match client {
            Client::Udp(address) => {
                if let Err(error) = self.replies.send_to(bytes, address) {
                    tracing::debug!(client = %address, %error, "cannot send a DNS reply");
                }
            }
            // The connection may have given up waiting: then nobody needs the reply.
            Client::Tcp(connection) => {
                let _ = connection.try_send(bytes.to_vec());
            }
        }
    }
}

/// An id no one outside can predict: std's randomly keyed SipHash over a counter.
fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let bytes = hasher.finish().to_le_bytes();
    u16::from_le_bytes([bytes[0], bytes[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_in_order_without_comments_or_scoped_addresses() {
        let text = "# generated by NetworkManager\n\
                    search example.com\n\
                    nameserver 127.0.0.53\n\
                    nameserver 192.0.2.1 # office\n\
                    ;nameserver 192.0.2.9\n\
                    nameserver   2001:db8::1\n\
                    nameserver fe80::1%eth0\n\
                    nameserver not-an-address\n\
                    options edns0 trust-ad\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                IpAddr::from([127, 0, 0, 53]),
                IpAddr::from([192, 0, 2, 1]),
                "2001:db8::1".parse::<IpAddr>().unwrap(),
            ]
        );
        assert!(parse_resolv_conf("").is_empty());
    }

    #[test]
    fn at_most_three_nameservers_and_a_socket_only_for_their_families() {
        let servers = (1..=5).map(|n| SocketAddr::from(([127, 0, 0, n], 53)));
        let upstream = Upstream::new(servers).unwrap();
        assert_eq!(upstream.servers().len(), MAX_NAMESERVERS);
        assert!(upstream.ipv4.is_some());
        assert!(upstream.ipv6.is_none());
    }
}
