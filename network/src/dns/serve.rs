//! The resolver's loop on its UDP socket.

use super::answer::{answer, Answer};
use super::names::Names;
use super::upstream::{Forwarder, Upstream};
use hickory_proto::op::ResponseCode;
use std::io;
use std::net::UdpSocket;
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
    socket.set_read_timeout(Some(POLL_INTERVAL))?;
    let forwarder = match upstream {
        Some(upstream) => Some(Forwarder::new(upstream, socket.try_clone()?)?),
        None => None,
    };
    // Set when this loop ends for any reason, so the relay threads end with it.
    let finished = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        if let Some(forwarder) = &forwarder {
            for upstream_socket in forwarder.sockets() {
                let (finished, forwarder) = (&finished, forwarder);
                scope.spawn(move || forwarder.relay_replies(upstream_socket, finished));
            }
        }
        let result = answer_queries(&socket, names.as_ref(), forwarder.as_ref(), stop);
        finished.store(true, Ordering::Relaxed);
        result
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
                Some(forwarder) => forwarder.forward(forwarded, query, client),
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
