//! DNS over TCP on the resolver's port (RFC 1035 4.2.2, RFC 7766), where clients retry a
//! reply that came back truncated over UDP; Docker's resolver listens on both as well.

use super::answer::{answer_over, Answer, Transport};
use super::names::Names;
use super::upstream::{Client, Forwarder, MAX_NAMESERVERS, NAMESERVER_TIMEOUT};
use hickory_proto::op::ResponseCode;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Connections served at once; more are closed at once, so a container opening many
/// connections costs a bounded number of threads.
pub(super) const MAX_CONNECTIONS: usize = 16;

/// How long a connection may sit without sending a whole query: miekg/dns's default TCP
/// read timeout, under Docker's resolver.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a reply may take to be written to a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the accept loop and waiting connections look at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Accepts and serves connections until `finished` is set.
pub(super) fn accept_connections(
    listener: &TcpListener,
    names: &dyn Names,
    forwarder: Option<&Forwarder>,
    finished: &AtomicBool,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let open = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        while !finished.load(Ordering::Relaxed) {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(POLL_INTERVAL);
                    continue;
                }
                Err(error) => {
                    // EMFILE and the like: wait rather than spin.
                    tracing::warn!(%error, "accepting a DNS connection failed");
                    std::thread::sleep(POLL_INTERVAL);
                    continue;
                }
            };
            if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::AcqRel);
                tracing::debug!("more than {MAX_CONNECTIONS} DNS connections, closing one");
                continue;
            }
            let open = &open;
            scope.spawn(move || {
                if let Err(error) = serve_connection(stream, names, forwarder, finished) {
                    tracing::debug!(%error, "DNS connection ended");
                }
                open.fetch_sub(1, Ordering::AcqRel);
            });
        }
    });
    Ok(())
}

/// Answers the queries of one connection in turn until the client closes it, stays silent
/// for [`READ_TIMEOUT`], or sends something that is not DNS.
fn serve_connection(
    mut stream: TcpStream,
    names: &dyn Names,
    forwarder: Option<&Forwarder>,
    finished: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut query = vec![0u8; usize::from(u16::MAX)];
    while !finished.load(Ordering::Relaxed) {
        let mut length = [0u8; 2];
        match stream.read_exact(&mut length) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error),
        }
        let query = &mut query[..usize::from(u16::from_be_bytes(length))];
        stream.read_exact(query)?;
        let reply = match answer_over(query, names, Transport::Tcp) {
            Answer::Reply(reply) => reply,
            Answer::Drop => return Ok(()),
            Answer::Forward(forwarded) => match forwarder {
                None => forwarded.failure(ResponseCode::ServFail),
                Some(forwarder) => {
                    let (sender, receiver) = sync_channel(1);
                    forwarder.forward(forwarded, query, Client::Tcp(sender));
                    // The forwarder always answers (SERVFAIL at worst) within the
                    // nameservers' timeouts; the margin covers its polling.
                    let deadline = Instant::now()
                        + NAMESERVER_TIMEOUT * u32::try_from(MAX_NAMESERVERS).unwrap_or(3)
                        + Duration::from_secs(1);
                    loop {
                        match receiver.recv_timeout(POLL_INTERVAL) {
                            Ok(reply) => break reply,
                            Err(RecvTimeoutError::Timeout)
                                if Instant::now() < deadline
                                    && !finished.load(Ordering::Relaxed) => {}
                            Err(_) => return Ok(()),
                        }
                    }
                }
            },
        };
        let Ok(length) = u16::try_from(reply.len()) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed)?;
    }
    Ok(())
}
