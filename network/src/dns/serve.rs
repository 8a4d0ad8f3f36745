//! The resolver's loop on its UDP socket (and TCP listener).

use super::answer::{answer, Answer};
use super::names::Names;
use super::tcp::accept_connections;
use super::upstream::{Client, Forwarder, Upstream};
use hickory_proto::op::ResponseCode;
use std::io;
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the loop looks at the stop flag while no query arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The largest datagram; a query is far smaller, but reading less would silently cut one.
const MAX_DATAGRAM: usize = 65535;

/// Answers the DNS queries arriving on `socket` (the network's gateway address, port 53)
/// from `names`, relaying the others to `upstream`'s nameservers (SERVFAIL without one, as
/// Docker's resolver on an `--internal` network), until `stop` is set; it returns within
/// about 100 ms of that.
///
/// One thread answers; with an upstream, one more per address family relays the
/// nameservers' replies. Errors from single packets (a client gone) are logged, not
/// returned; an error reading the socket itself is returned.
pub fn serve(
    socket: UdpSocket,
    names: Arc<dyn Names>,
    upstream: Option<Upstream>,
    stop: &AtomicBool,
) -> io::Result<()> {
    run(socket, None, names, upstream, stop)
}

/// [`serve`], and DNS over TCP on `listener` (the same address and port), where clients
/// retry replies that came back truncated over UDP. A TCP query the network cannot answer
/// goes to the nameservers over UDP, asking for up to 4 KiB; connections are served by
/// up to 16 more threads, each closed after 2 s without a query. Returns within about 2 s
/// of `stop`.
pub fn serve_with_tcp(
    socket: UdpSocket,
    listener: TcpListener,
    names: Arc<dyn Names>,
    upstream: Option<Upstream>,
    stop: &AtomicBool,
) -> io::Result<()> {
    run(socket, Some(listener), names, upstream, stop)
}

fn run(
    socket: UdpSocket,
    listener: Option<TcpListener>,
    names: Arc<dyn Names>,
    upstream: Option<Upstream>,
    stop: &AtomicBool,
) -> io::Result<()> {
    socket.set_read_timeout(Some(POLL_INTERVAL))?;
    let forwarder = match upstream {
        Some(upstream) => Some(Forwarder::new(upstream, socket.try_clone()?)?),
        None => None,
    };
    let names = names.as_ref();
    // Set when the UDP loop ends for any reason, so the other threads end with it.
    let finished = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let (finished, forwarder) = (&finished, forwarder.as_ref());
        if let Some(forwarder) = forwarder {
            for upstream_socket in forwarder.sockets() {
                scope.spawn(move || forwarder.relay_replies(upstream_socket, finished));
            }
        }
        let tcp = listener.as_ref().map(|listener| {
            scope.spawn(move || accept_connections(listener, names, forwarder, finished))
        });
        let result = answer_queries(&socket, names, forwarder, stop);
        finished.store(true, Ordering::Relaxed);
        let tcp_result = match tcp.map(|thread| thread.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the DNS-over-TCP thread panicked")),
            None => Ok(()),
        };
        result.and(tcp_result)
    });
    if let Some(forwarder) = &forwarder {
        forwarder.fail_all();
    }
    result
}

fn answer_queries(
    socket: &UdpSocket,
    names: &dyn Names,
    forwarder: Option<&Forwarder>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        let (len, client) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue
            }
            Err(error) => return Err(error),
        };
        let query = &buffer[..len];
        match answer(query, names) {
            Answer::Reply(reply) => {
                if let Err(error) = socket.send_to(&reply, client) {
                    tracing::debug!(%client, %error, "cannot send a DNS reply");
                }
            }
            Answer::Forward(forwarded) => match forwarder {
                Some(forwarder) => forwarder.forward(forwarded, query, Client::Udp(client)),
                None => {
                    let reply = forwarded.failure(ResponseCode::ServFail);
                    if let Err(error) = socket.send_to(&reply, client) {
                        tracing::debug!(%client, %error, "cannot send a DNS reply");
                    }
                }
            },
            Answer::Drop => {}
        }
    }
    Ok(())
}
