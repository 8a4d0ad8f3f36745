//! `serve` over real UDP sockets on 127.0.0.1: names from an endpoint directory, containers
//! added while it runs, and forwarding to fake nameservers (never an outside address).

use super::{serve, serve_with_tcp, EndpointDir, Names, Upstream, RESPONSE_TTL};
use crate::Endpoint;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const EXAMPLE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

/// A resolver serving on 127.0.0.1 in a thread, stopped and joined on drop.
struct Resolver {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Resolver {
    fn start(names: Arc<dyn Names>, upstream: Option<Upstream>) -> Self {
        Self::start_on(names, upstream, false)
    }

    /// Also over TCP, on the same port.
    fn start_with_tcp(names: Arc<dyn Names>, upstream: Option<Upstream>) -> Self {
        Self::start_on(names, upstream, true)
    }

    fn start_on(names: Arc<dyn Names>, upstream: Option<Upstream>, tcp: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (address, thread) = if tcp {
            let (socket, listener) = udp_and_tcp_on_one_port();
            let address = socket.local_addr().unwrap();
            let thread =
                thread::spawn(move || serve_with_tcp(socket, listener, names, upstream, &flag));
            (address, thread)
        } else {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let address = socket.local_addr().unwrap();
            (
                address,
                thread::spawn(move || serve(socket, names, upstream, &flag)),
            )
        };
        Resolver {
            address,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> std::io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A UDP port the kernel picked may already be taken over TCP by another test running in
/// parallel: try other ports until both protocols bind.
fn udp_and_tcp_on_one_port() -> (UdpSocket, TcpListener) {
    for _ in 0..100 {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(listener) = TcpListener::bind(socket.local_addr().unwrap()) {
            return (socket, listener);
        }
    }
    panic!("no port on 127.0.0.1 free for both UDP and TCP after 100 tries");
}

fn client() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    socket
}

fn query(id: u16, name: &str, record_type: RecordType) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
    message.to_vec().unwrap()
}

fn receive(socket: &UdpSocket) -> Message {
    let mut buffer = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buffer).expect("a reply");
    Message::from_vec(&buffer[..len]).unwrap()
}

fn ask(resolver: SocketAddr, id: u16, name: &str, record_type: RecordType) -> Message {
    let socket = client();
    socket
        .send_to(&query(id, name, record_type), resolver)
        .unwrap();
    let reply = receive(&socket);
    assert_eq!(reply.metadata.id, id);
    reply
}

fn addresses(message: &Message) -> Vec<Ipv4Addr> {
    let mut addresses: Vec<Ipv4Addr> = message
        .answers
        .iter()
        .filter_map(|record| match record.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    addresses.sort();
    addresses
}

fn write_endpoint(dir: &Path, name: &str, aliases: &[&str], ip: Ipv4Addr) {
    let endpoint = Endpoint {
        container_id: format!("{:x>64}", ip.octets()[3]),
        name: name.into(),
        aliases: aliases.iter().map(|alias| alias.to_string()).collect(),
        ip,
        mac: "02:42:ac:12:00:02".into(),
    };
    std::fs::write(
        dir.join(format!("{ip}.json")),
        serde_json::to_vec(&endpoint).unwrap(),
    )
    .unwrap();
}

/// How a fake nameserver behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers A queries for `example.com.` with [`EXAMPLE`], NXDOMAIN for the rest.
    Answer,
    /// Never answers.
    Silent,
    /// Answers SERVFAIL.
    Fail,
}

/// A nameserver on 127.0.0.1 that counts the queries it received.
struct FakeNameserver {
    address: SocketAddr,
    received: Arc<AtomicUsize>,
    /// The EDNS payload of the last query (0 without EDNS).
    last_payload: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeNameserver {
    fn start(behaviour: Behaviour) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let address = socket.local_addr().unwrap();
        let received = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let last_payload = Arc::new(AtomicUsize::new(0));
        let (count, done) = (Arc::clone(&received), Arc::clone(&stop));
        let payload = Arc::clone(&last_payload);
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while !done.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let request = Message::from_vec(&buffer[..len]).unwrap();
                let edns_payload = request.edns.as_ref().map_or(0, |edns| edns.max_payload());
                payload.store(usize::from(edns_payload), Ordering::Relaxed);
                let mut reply =
                    Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
                reply.queries = request.queries.clone();
                match behaviour {
                    Behaviour::Silent => continue,
                    Behaviour::Fail => reply.metadata.response_code = ResponseCode::ServFail,
                    Behaviour::Answer => {
                        let question = &request.queries[0];
                        if question.name() == &Name::from_ascii("example.com.").unwrap() {
                            reply.add_answer(Record::from_rdata(
                                question.name().clone(),
                                300,
                                RData::A(A(EXAMPLE)),
                            ));
                        } else {
                            reply.metadata.response_code = ResponseCode::NXDomain;
                        }
                    }
                }
                socket.send_to(&reply.to_vec().unwrap(), from).unwrap();
            }
        });
        FakeNameserver {
            address,
            received,
            last_payload,
            stop,
        }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for FakeNameserver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn containers_resolve_by_name_and_alias_including_ones_started_later() {
    let dir = tempfile::tempdir().unwrap();
    let web = Ipv4Addr::new(172, 18, 0, 2);
    write_endpoint(dir.path(), "web", &["www"], web);
    let names: Arc<dyn Names> = Arc::new(EndpointDir::new(dir.path()).with_network_name("mynet"));
    let resolver = Resolver::start(names, None);

    let reply = ask(resolver.address, 1, "web.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&reply), vec![web]);
    assert_eq!(reply.answers[0].ttl, RESPONSE_TTL);
    assert_eq!(
        addresses(&ask(resolver.address, 2, "WWW.", RecordType::A)),
        vec![web]
    );
    assert_eq!(
        addresses(&ask(resolver.address, 3, "web.mynet.", RecordType::A)),
        vec![web]
    );
    let aaaa = ask(resolver.address, 4, "web.", RecordType::AAAA);
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty());

    // Not yet there, and no nameserver to ask: SERVFAIL, as Docker's resolver without one.
    let missing = ask(resolver.address, 5, "db.", RecordType::A);
    assert_eq!(missing.metadata.response_code, ResponseCode::ServFail);
    assert!(missing.answers.is_empty());

    // A container started while the resolver runs resolves at once.
    let db = Ipv4Addr::new(172, 18, 0, 3);
    write_endpoint(dir.path(), "db", &["www"], db);
    assert_eq!(
        addresses(&ask(resolver.address, 6, "db.", RecordType::A)),
        vec![db]
    );
    assert_eq!(
        addresses(&ask(resolver.address, 7, "www.", RecordType::A)),
        vec![web, db]
    );

    // Garbage gets FORMERR and the resolver keeps serving.
    let socket = client();
    socket
        .send_to(
            &[0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff],
            resolver.address,
        )
        .unwrap();
    let formerr = receive(&socket);
    assert_eq!(formerr.metadata.id, 0x1234);
    assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
    socket.send_to(&[0xff; 5], resolver.address).unwrap();
    assert_eq!(
        addresses(&ask(resolver.address, 8, "web.", RecordType::A)),
        vec![web]
    );

    let started = Instant::now();
    resolver.stop().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "serve stops promptly"
    );
}

#[test]
fn other_names_are_relayed_to_the_nameserver_and_back() {
    let nameserver = FakeNameserver::start(Behaviour::Answer);
    let dir = tempfile::tempdir().unwrap();
    let web = Ipv4Addr::new(172, 18, 0, 2);
    write_endpoint(dir.path(), "web", &[], web);
    let upstream = Upstream::new([nameserver.address]).unwrap();
    let resolver = Resolver::start(Arc::new(EndpointDir::new(dir.path())), Some(upstream));

    let reply = ask(resolver.address, 0x0101, "example.com.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&reply), vec![EXAMPLE]);
    assert_eq!(
        reply.answers[0].ttl, 300,
        "the nameserver's record, as it sent it"
    );

    let unknown = ask(resolver.address, 0x0202, "nosuchcontainer.", RecordType::A);
    assert_eq!(unknown.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nameserver.received(), 2);

    // The network's own names never reach the nameserver.
    assert_eq!(
        addresses(&ask(resolver.address, 0x0303, "web.", RecordType::A)),
        vec![web]
    );
    assert_eq!(nameserver.received(), 2);

    // Two clients using the same id at once each get their own answer.
    let (first, second) = (client(), client());
    first
        .send_to(&query(7, "example.com.", RecordType::A), resolver.address)
        .unwrap();
    second
        .send_to(&query(7, "other.example.", RecordType::A), resolver.address)
        .unwrap();
    let (first, second) = (receive(&first), receive(&second));
    assert_eq!((first.metadata.id, second.metadata.id), (7, 7));
    assert_eq!(addresses(&first), vec![EXAMPLE]);
    assert_eq!(second.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        second.queries[0].name(),
        &Name::from_ascii("other.example.").unwrap()
    );
}

#[test]
fn a_silent_or_failing_nameserver_hands_over_to_the_next() {
    let silent = FakeNameserver::start(Behaviour::Silent);
    let failing = FakeNameserver::start(Behaviour::Fail);
    let answering = FakeNameserver::start(Behaviour::Answer);
    let upstream = Upstream::new([silent.address, failing.address, answering.address]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolver = Resolver::start(Arc::new(EndpointDir::new(dir.path())), Some(upstream));

    let started = Instant::now();
    let reply = ask(resolver.address, 9, "example.com.", RecordType::A);
    let waited = started.elapsed();
    assert_eq!(addresses(&reply), vec![EXAMPLE]);
    assert_eq!(
        (silent.received(), failing.received(), answering.received()),
        (1, 1, 1)
    );
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "the silent nameserver had its 2 s: {waited:?}"
    );
}

#[test]
fn no_answer_from_any_nameserver_is_servfail() {
    let silent = FakeNameserver::start(Behaviour::Silent);
    let failing = FakeNameserver::start(Behaviour::Fail);
    let upstream = Upstream::new([failing.address, silent.address]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolver = Resolver::start(Arc::new(EndpointDir::new(dir.path())), Some(upstream));

    let reply = ask(resolver.address, 10, "example.com.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        reply.queries[0].name(),
        &Name::from_ascii("example.com.").unwrap()
    );
    assert_eq!((failing.received(), silent.received()), (1, 1));
}

#[test]
fn a_flood_of_forwarded_queries_is_bounded_and_refused_beyond() {
    let silent = FakeNameserver::start(Behaviour::Silent);
    let upstream = Upstream::new([silent.address]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolver = Resolver::start(Arc::new(EndpointDir::new(dir.path())), Some(upstream));

    let flood = super::upstream::MAX_IN_FLIGHT + 44;
    // Several clients, so that no socket's receive buffer has to hold a burst of hundreds
    // of replies (the kernel would drop some, on a loaded machine).
    let clients: Vec<UdpSocket> = (0..10).map(|_| client()).collect();
    for id in 0..flood {
        let id = u16::try_from(id).unwrap();
        clients[usize::from(id) % clients.len()]
            .send_to(&query(id, "example.com.", RecordType::A), resolver.address)
            .unwrap();
        // Pace the flood a little so the resolver's receive buffer keeps every query.
        if id % 8 == 0 {
            thread::sleep(Duration::from_millis(2));
        }
    }
    // The queries beyond the limit are refused at once; the others fail after the timeout.
    let mut codes = Vec::new();
    for (index, client) in clients.iter().enumerate() {
        for _ in (index..flood).step_by(clients.len()) {
            codes.push(receive(client).metadata.response_code);
        }
    }
    let refused = codes
        .iter()
        .filter(|&&c| c == ResponseCode::Refused)
        .count();
    let servfail = codes
        .iter()
        .filter(|&&c| c == ResponseCode::ServFail)
        .count();
    assert_eq!((refused, servfail), (44, super::upstream::MAX_IN_FLIGHT));
    assert_eq!(silent.received(), super::upstream::MAX_IN_FLIGHT);
}

fn tcp_ask(stream: &mut TcpStream, query: &[u8]) -> Message {
    let length = u16::try_from(query.len()).unwrap().to_be_bytes();
    stream.write_all(&[&length[..], query].concat()).unwrap();
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut reply).unwrap();
    Message::from_vec(&reply).unwrap()
}

fn tcp_client(resolver: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(resolver).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    stream
}

#[test]
fn a_reply_truncated_over_udp_comes_whole_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let pool: Vec<Ipv4Addr> = (10..60).map(|n| Ipv4Addr::new(172, 18, 0, n)).collect();
    for (index, &ip) in pool.iter().enumerate() {
        write_endpoint(dir.path(), &format!("worker{index}"), &["pool"], ip);
    }
    let names: Arc<dyn Names> = Arc::new(EndpointDir::new(dir.path()));
    let resolver = Resolver::start_with_tcp(names, None);

    let over_udp = ask(resolver.address, 1, "pool.", RecordType::A);
    assert!(over_udp.metadata.truncation);
    assert!(over_udp.answers.len() < pool.len());

    let mut stream = tcp_client(resolver.address);
    let over_tcp = tcp_ask(&mut stream, &query(2, "pool.", RecordType::A));
    assert_eq!(over_tcp.metadata.id, 2);
    assert!(!over_tcp.metadata.truncation);
    assert_eq!(addresses(&over_tcp), pool);

    // More queries on the same connection; garbage gets FORMERR.
    let one = tcp_ask(&mut stream, &query(3, "worker0.", RecordType::A));
    assert_eq!(addresses(&one), vec![pool[0]]);
    let formerr = tcp_ask(
        &mut stream,
        &[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff],
    );
    assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
    let missing = tcp_ask(&mut stream, &query(4, "example.com.", RecordType::A));
    assert_eq!(missing.metadata.response_code, ResponseCode::ServFail);
    drop(stream);

    let started = Instant::now();
    resolver.stop().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "serve stops");
}

#[test]
fn tcp_queries_for_other_names_are_relayed_over_udp_asking_for_4k() {
    let nameserver = FakeNameserver::start(Behaviour::Answer);
    let upstream = Upstream::new([nameserver.address]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolver = Resolver::start_with_tcp(Arc::new(EndpointDir::new(dir.path())), Some(upstream));

    let mut stream = tcp_client(resolver.address);
    let reply = tcp_ask(&mut stream, &query(0x0505, "example.com.", RecordType::A));
    assert_eq!(reply.metadata.id, 0x0505);
    assert_eq!(addresses(&reply), vec![EXAMPLE]);
    assert_eq!(nameserver.received(), 1);
    assert_eq!(nameserver.last_payload.load(Ordering::Relaxed), 4096);
    // The client sent no OPT record, so it gets none back.
    assert!(reply.edns.is_none());

    let unknown = tcp_ask(
        &mut stream,
        &query(0x0606, "nosuch.example.", RecordType::A),
    );
    assert_eq!(unknown.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn tcp_connections_beyond_the_limit_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    write_endpoint(dir.path(), "web", &[], Ipv4Addr::new(172, 18, 0, 2));
    let resolver = Resolver::start_with_tcp(Arc::new(EndpointDir::new(dir.path())), None);

    // Idle connections hold every slot...
    let idle: Vec<TcpStream> = (0..super::tcp::MAX_CONNECTIONS)
        .map(|_| tcp_client(resolver.address))
        .collect();
    thread::sleep(Duration::from_millis(300));
    // ...so one more is closed without an answer,
    let mut extra = tcp_client(resolver.address);
    let length = u16::try_from(query(1, "web.", RecordType::A).len()).unwrap();
    let _ =
        extra.write_all(&[&length.to_be_bytes()[..], &query(1, "web.", RecordType::A)].concat());
    let mut byte = [0u8; 1];
    assert!(matches!(extra.read(&mut byte), Ok(0) | Err(_)));
    // and once the idle ones time out (2 s), the resolver takes connections again.
    thread::sleep(Duration::from_millis(2500));
    drop(idle);
    let mut again = tcp_client(resolver.address);
    let reply = tcp_ask(&mut again, &query(2, "web.", RecordType::A));
    assert_eq!(addresses(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
}

#[test]
fn names_of_another_network_do_not_resolve() {
    let (front, back) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let web = Ipv4Addr::new(172, 18, 0, 2);
    let db = Ipv4Addr::new(172, 19, 0, 2);
    write_endpoint(front.path(), "web", &["site"], web);
    write_endpoint(back.path(), "db", &["store"], db);
    let front_resolver = Resolver::start(
        Arc::new(EndpointDir::new(front.path()).with_network_name("front")),
        None,
    );
    let back_resolver = Resolver::start(
        Arc::new(EndpointDir::new(back.path()).with_network_name("back")),
        None,
    );

    assert_eq!(
        addresses(&ask(front_resolver.address, 1, "web.", RecordType::A)),
        vec![web]
    );
    assert_eq!(
        addresses(&ask(back_resolver.address, 2, "db.", RecordType::A)),
        vec![db]
    );
    for (resolver, name) in [
        (front_resolver.address, "db."),
        (front_resolver.address, "store."),
        (front_resolver.address, "db.back."),
        (back_resolver.address, "web."),
        (back_resolver.address, "site.front."),
    ] {
        let reply = ask(resolver, 3, name, RecordType::A);
        assert!(
            reply.answers.is_empty(),
            "{name} resolved on the wrong network"
        );
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::ServFail,
            "{name}"
        );
    }
}
