//! One query in, one decision out: a reply from the network's own names, or "ask the host's
//! nameservers". Pure (no I/O besides [`Names`]), so every rule is unit-tested on bytes.

use super::names::Names;
use hickory_proto::op::{
    Edns, Header, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecodable;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

/// The TTL of the records the resolver answers itself: Docker's `respTTL`.
pub const RESPONSE_TTL: u32 = 600;

/// The largest UDP reply without EDNS (RFC 1035 4.2.1); a query advertising a larger EDNS
/// payload gets up to that, as Docker's `serveDNS` does.
const PLAIN_UDP_LIMIT: usize = 512;

/// The EDNS payload this resolver advertises in its replies (DNS flag day 2020's value).
const ADVERTISED_PAYLOAD: u16 = 1232;

/// The largest reply over TCP: its two-byte length prefix (RFC 1035 4.2.2).
const TCP_LIMIT: usize = 65535;

/// The EDNS payload asked of the nameservers for a query that came over TCP: the resolver
/// reaches them over UDP only (it cannot open TCP connections in the host's namespace once
/// it has left it), so it asks for what UDP can carry instead of a 512-byte cut.
const TCP_FORWARD_PAYLOAD: u16 = 4096;

/// How the query arrived, which bounds the reply's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    Udp,
    Tcp,
}

/// What to do with a query.
#[derive(Debug)]
pub enum Answer {
    /// Send these bytes back to the client.
    Reply(Vec<u8>),
    /// Not one of the network's names: relay the query to the host's nameservers.
    Forward(ForwardedQuery),
    /// Nothing can be answered (not a DNS query, or a response): send nothing.
    Drop,
}

/// A well-formed query the resolver does not answer itself.
#[derive(Debug, Clone)]
pub struct ForwardedQuery {
    request: Message,
    transport: Transport,
}

impl ForwardedQuery {
    /// The client's query id.
    pub fn id(&self) -> u16 {
        self.request.metadata.id
    }

    /// The question asked.
    pub fn question(&self) -> &Query {
        // `answer` only forwards queries with exactly one question.
        &self.request.queries[0]
    }

    /// Whether `reply` (from a nameserver) answers this question: same name (any case), type
    /// and class, so a stray or spoofed packet with a guessed id is not relayed.
    pub fn is_answered_by(&self, reply: &Message) -> bool {
        let asked = self.question();
        reply.metadata.message_type == MessageType::Response
            && reply.queries.len() == 1
            && reply.queries[0].query_type() == asked.query_type()
            && reply.queries[0].query_class() == asked.query_class()
            && reply.queries[0].name().eq_ignore_root(asked.name())
    }

    /// The reply when no nameserver answered: Docker sends SERVFAIL when it has no upstream
    /// or none answered, and REFUSED when too many queries are already being forwarded
    /// (`forwardExtDNS`).
    pub fn failure(&self, code: ResponseCode) -> Vec<u8> {
        let mut reply = reply_to(&self.request);
        reply.metadata.response_code = code;
        encode_within(reply, limit_for(&self.request, self.transport)).unwrap_or_default()
    }

    /// What to send the nameservers for a query that came over TCP: the query asking for
    /// a [`TCP_FORWARD_PAYLOAD`]-byte UDP reply.
    pub(super) fn for_tcp_client(&self) -> Option<Vec<u8>> {
        let mut request = self.request.clone();
        let mut edns = request.edns.clone().unwrap_or_default();
        edns.set_max_payload(edns.max_payload().max(TCP_FORWARD_PAYLOAD));
        request.set_edns(edns);
        request.to_vec().ok()
    }

    /// A nameserver's `reply` as the TCP client expects it: without the OPT record the
    /// client did not ask for (RFC 6891 7: none in a reply to a query without one).
    pub(super) fn reply_for_tcp_client(&self, reply: &[u8]) -> Option<Vec<u8>> {
        if self.request.edns.is_some() {
            return Some(reply.to_vec());
        }
        let mut message = Message::from_vec(reply).ok()?;
        message.edns = None;
        message.to_vec().ok()
    }

    pub(super) fn transport(&self) -> Transport {
        self.transport
    }
}

/// Decides what to do with one UDP `query` (untrusted bytes from a container).
///
/// As Docker's embedded DNS (moby `libnetwork/resolver.go`):
/// - A for a name of the network: its A records, TTL 600, shuffled when there are several,
///   RA set, AA clear (`createRespMsg`, `handleIPQuery`);
/// - AAAA and MX for such a name: NOERROR with no records (`handleIPQuery` for a name
///   without IPv6, `handleMXQuery`'s "implicit MX");
/// - PTR for a container's address: its name (`handlePTRQuery`);
/// - anything else, dotted or not, is forwarded to the host's nameservers, which is also
///   where an unknown single-label name goes (`serveDNS` forwards whatever it has no record
///   for). Docker's one exception, an empty reply instead for a single-label A/AAAA name
///   when the user set `--dns-option ndots:N`, is left out: the resolver does not know a
///   container's resolver options.
///
/// One deliberate difference: Docker forwards the other query types (TXT, CNAME, ...) even
/// for a container's name, leaking container names to the host's resolvers and answering
/// NXDOMAIN for a name it just resolved; hull answers NOERROR with no records (the name
/// exists, without data of that type, RFC 2308 "NODATA").
///
/// Malformed input never panics: a parseable header gets FORMERR (NOTIMP for opcodes other
/// than QUERY), as miekg/dns's default `MsgAcceptFunc` under Docker does; less than a header,
/// or a response, gets nothing. Replies fit in 512 bytes (or the query's EDNS payload), with
/// TC set when records had to be left out.
pub fn answer(query: &[u8], names: &dyn Names) -> Answer {
    answer_over(query, names, Transport::Udp)
}

/// [`answer`] for a query that arrived over `transport` (over TCP, replies up to 64 KiB).
pub(super) fn answer_over(query: &[u8], names: &dyn Names, transport: Transport) -> Answer {
    let Ok(header) = Header::from_bytes(query.get(..12).unwrap_or(query)) else {
        return Answer::Drop;
    };
    if header.metadata.message_type == MessageType::Response {
        // Never answer a response: two resolvers would bounce error replies forever.
        return Answer::Drop;
    }
    if header.metadata.op_code != OpCode::Query {
        return header_only_reply(&header.metadata, ResponseCode::NotImp);
    }
    let counts = header.counts;
    // miekg/dns rejects these with FORMERR before Docker's handler sees them.
    if counts.queries != 1 || counts.answers > 1 || counts.authorities > 1 || counts.additionals > 2
    {
        return header_only_reply(&header.metadata, ResponseCode::FormErr);
    }
    let Ok(request) = Message::from_vec(query) else {
        return header_only_reply(&header.metadata, ResponseCode::FormErr);
    };
    if request.queries.len() != 1 {
        return header_only_reply(&header.metadata, ResponseCode::FormErr);
    }
    match local_records(&request, names) {
        Some(records) => {
            let mut reply = reply_to(&request);
            reply.answers = records;
            match encode_within(reply, limit_for(&request, transport)) {
                Some(bytes) => Answer::Reply(bytes),
                None => Answer::Drop,
            }
        }
        None => Answer::Forward(ForwardedQuery { request, transport }),
    }
}

/// The records for the question when the name is the network's own (possibly none, for a
/// known name without data of the type asked), `None` when the question goes upstream.
fn local_records(request: &Message, names: &dyn Names) -> Option<Vec<Record>> {
    let question = &request.queries[0];
    if question.query_class() != DNSClass::IN {
        return None;
    }
    let asked = question.name();
    if question.query_type() == RecordType::PTR {
        let ip = reverse_lookup_address(asked)?;
        let host = names.reverse(ip)?;
        let target = Name::from_ascii(format!("{host}.")).ok()?;
        return Some(vec![Record::from_rdata(
            asked.clone(),
            RESPONSE_TTL,
            RData::PTR(PTR(target)),
        )]);
    }
    let name = container_name(asked)?;
    let mut addresses = names.lookup(&name);
    if addresses.is_empty() {
        return None;
    }
    match question.query_type() {
        RecordType::A => {
            shuffle(&mut addresses);
            Some(
                addresses
                    .into_iter()
                    .map(|ip| Record::from_rdata(asked.clone(), RESPONSE_TTL, RData::A(A(ip))))
                    .collect(),
            )
        }
        // SRV stays with the nameservers as in Docker (it only answers swarm services).
        RecordType::SRV => None,
        _ => Some(Vec::new()),
    }
}

/// The name as a container name or alias could spell it (`[A-Za-z0-9_.-]`), without the
/// trailing dot; `None` for anything else (escaped or binary labels, the root), which then
/// cannot be one of the network's names.
fn container_name(name: &Name) -> Option<String> {
    let mut text = String::new();
    for label in name.iter() {
        if label.is_empty()
            || !label
                .iter()
                .all(|&byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        {
            return None;
        }
        if !text.is_empty() {
            text.push('.');
        }
        text.extend(label.iter().map(|&byte| char::from(byte)));
    }
    (!text.is_empty()).then_some(text)
}

/// The address a `d.c.b.a.in-addr.arpa.` name asks about.
fn reverse_lookup_address(name: &Name) -> Option<Ipv4Addr> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let [d, c, b, a, in_addr, arpa] = labels.as_slice() else {
        return None;
    };
    if !in_addr.eq_ignore_ascii_case(b"in-addr") || !arpa.eq_ignore_ascii_case(b"arpa") {
        return None;
    }
    let octet = |label: &[u8]| std::str::from_utf8(label).ok()?.parse::<u8>().ok();
    Some(Ipv4Addr::new(octet(a)?, octet(b)?, octet(c)?, octet(d)?))
}

/// Docker shuffles several addresses (`shuffleAddr`) so that clients taking the first one
/// spread over the containers sharing an alias.
fn shuffle(addresses: &mut [Ipv4Addr]) {
    let random = RandomState::new();
    for i in (1..addresses.len()).rev() {
        let j = usize::try_from(random.hash_one(i) % (i as u64 + 1)).unwrap_or(0);
        addresses.swap(i, j);
    }
}

/// A NOERROR reply with the request's id, opcode, RD, CD and question, RA set (Docker's
/// `createRespMsg`), and an OPT record when the request had one (RFC 6891 6.1.1).
fn reply_to(request: &Message) -> Message {
    let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata = Metadata::response_from_request(&request.metadata);
    reply.metadata.recursion_available = true;
    reply.queries = request.queries.clone();
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(ADVERTISED_PAYLOAD);
        reply.set_edns(edns);
    }
    reply
}

/// The reply size the client accepts.
fn limit_for(request: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Udp => usize::from(request.max_payload()).max(PLAIN_UDP_LIMIT),
        Transport::Tcp => TCP_LIMIT,
    }
}

/// Encodes `reply`, leaving out answers from the end (and setting TC) until it fits.
fn encode_within(mut reply: Message, limit: usize) -> Option<Vec<u8>> {
    let encode = |reply: &Message| match reply.to_vec() {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            tracing::warn!(%error, "cannot encode a DNS reply");
            None
        }
    };
    let bytes = encode(&reply)?;
    if bytes.len() <= limit || reply.answers.is_empty() {
        return Some(bytes);
    }
    reply.metadata.truncation = true;
    let all = std::mem::take(&mut reply.answers);
    // How many answers fit, by bisection: an alias shared by hundreds of containers costs a
    // handful of encodings per query, not one per record left out.
    let (mut fits, mut too_many) = (0, all.len());
    while too_many - fits > 1 {
        let middle = fits + (too_many - fits) / 2;
        reply.answers = all[..middle].to_vec();
        if encode(&reply)?.len() <= limit {
            fits = middle;
        } else {
            too_many = middle;
        }
    }
    reply.answers = all[..fits].to_vec();
    encode(&reply)
}

/// A reply with only the header (no question: it may be what could not be parsed).
fn header_only_reply(request: &Metadata, code: ResponseCode) -> Answer {
    let mut reply = Message::new(request.id, MessageType::Response, request.op_code);
    reply.metadata = Metadata::response_from_request(request);
    reply.metadata.recursion_available = true;
    reply.metadata.response_code = code;
    match reply.to_vec() {
        Ok(bytes) => Answer::Reply(bytes),
        Err(_) => Answer::Drop,
    }
}
