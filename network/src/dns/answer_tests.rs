//! `answer` on crafted queries: every rule of the resolver, byte for byte where it matters.

use super::{answer, Answer, Names, RESPONSE_TTL};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use std::net::Ipv4Addr;

/// A network with `web` (alias `www`) at .2, `db` at .3, the alias `pool` on ten
/// containers and `many` on 200.
struct TestNames;

const WEB: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);
const DB: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 3);

impl Names for TestNames {
    fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        match name.to_ascii_lowercase().as_str() {
            "web" | "www" => vec![WEB],
            "db" | "db.mynet" => vec![DB],
            "pool" => (10..20).map(|n| Ipv4Addr::new(172, 18, 0, n)).collect(),
            "many" => (0..200).map(|n| Ipv4Addr::new(172, 18, 1, n)).collect(),
            _ => Vec::new(),
        }
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        (ip == WEB).then(|| "web.mynet".to_string())
    }
}

fn query(name: &str, record_type: RecordType) -> Message {
    let mut message = Message::new(0x4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
    message
}

fn ask(message: &Message) -> Answer {
    answer(&message.to_vec().unwrap(), &TestNames)
}

fn reply(answer: Answer) -> (Vec<u8>, Message) {
    match answer {
        Answer::Reply(bytes) => {
            let message = Message::from_vec(&bytes).unwrap();
            (bytes, message)
        }
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn addresses(message: &Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .map(|record| match record.data {
            RData::A(a) => a.0,
            ref other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

#[test]
fn a_query_for_a_container_name_or_alias_gets_its_address() {
    for name in ["web.", "www.", "WeB.", "db.mynet."] {
        let (_, message) = reply(ask(&query(name, RecordType::A)));
        assert_eq!(message.metadata.id, 0x4242, "{name}");
        assert_eq!(message.metadata.message_type, MessageType::Response);
        assert_eq!(message.metadata.response_code, ResponseCode::NoError);
        assert!(message.metadata.recursion_desired, "RD is copied");
        assert!(
            message.metadata.recursion_available,
            "RA is set, as Docker's"
        );
        assert!(!message.metadata.truncation);
        assert_eq!(message.queries, query(name, RecordType::A).queries);
        assert_eq!(message.answers.len(), 1, "{name}");
        let record = &message.answers[0];
        assert_eq!(record.ttl, RESPONSE_TTL);
        assert_eq!(record.ttl, 600);
        assert_eq!(record.dns_class, DNSClass::IN);
        // The owner name is the name as asked, case included.
        assert_eq!(
            record.name.to_ascii(),
            Name::from_ascii(name).unwrap().to_ascii()
        );
        let expected = if name.starts_with("db") { DB } else { WEB };
        assert_eq!(addresses(&message), vec![expected]);
    }
}

#[test]
fn a_shared_alias_answers_every_address() {
    let (_, message) = reply(ask(&query("pool.", RecordType::A)));
    let mut found = addresses(&message);
    found.sort();
    let expected: Vec<Ipv4Addr> = (10..20).map(|n| Ipv4Addr::new(172, 18, 0, n)).collect();
    assert_eq!(found, expected);
}

#[test]
fn unknown_names_are_forwarded_dotted_or_not() {
    for name in [
        "unknown.",
        "nginx.",
        "example.com.",
        "web.othernet.",
        "WEB.example.com.",
    ] {
        match ask(&query(name, RecordType::A)) {
            Answer::Forward(forwarded) => {
                assert_eq!(forwarded.id(), 0x4242);
                assert_eq!(
                    forwarded.question().name(),
                    &Name::from_ascii(name).unwrap()
                );
            }
            other => panic!("{name}: expected a forward, got {other:?}"),
        }
    }
}

#[test]
fn aaaa_mx_and_other_types_for_a_known_name_are_empty_noerror() {
    for record_type in [
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::CNAME,
    ] {
        let (_, message) = reply(ask(&query("web.", record_type)));
        assert_eq!(
            message.metadata.response_code,
            ResponseCode::NoError,
            "{record_type}"
        );
        assert!(message.answers.is_empty(), "{record_type}");
        assert_eq!(message.queries[0].query_type(), record_type);
    }
    // For a name of no container they go upstream.
    assert!(matches!(
        ask(&query("example.com.", RecordType::AAAA)),
        Answer::Forward(_)
    ));
    // SRV stays with the nameservers, as in Docker.
    assert!(matches!(
        ask(&query("web.", RecordType::SRV)),
        Answer::Forward(_)
    ));
}

#[test]
fn reverse_lookups_of_a_container_address_name_it() {
    let (_, message) = reply(ask(&query("2.0.18.172.in-addr.arpa.", RecordType::PTR)));
    assert_eq!(message.answers.len(), 1);
    match &message.answers[0].data {
        RData::PTR(ptr) => assert_eq!(ptr.0.to_ascii(), "web.mynet."),
        other => panic!("not a PTR: {other:?}"),
    }
    assert_eq!(message.answers[0].ttl, RESPONSE_TTL);
    for name in [
        "3.0.18.172.in-addr.arpa.",
        "1.1.1.1.in-addr.arpa.",
        "300.0.18.172.in-addr.arpa.",
    ] {
        assert!(
            matches!(ask(&query(name, RecordType::PTR)), Answer::Forward(_)),
            "{name}"
        );
    }
}

#[test]
fn other_classes_and_odd_labels_are_not_the_networks_names() {
    let mut chaos = query("web.", RecordType::A);
    chaos.queries[0].set_query_class(DNSClass::CH);
    assert!(matches!(ask(&chaos), Answer::Forward(_)));

    let mut escaped = query("web.", RecordType::A);
    escaped.queries[0].set_name(Name::from_labels(vec![&b"w\\eb"[..]]).unwrap());
    assert!(matches!(ask(&escaped), Answer::Forward(_)));
    let mut binary = query("web.", RecordType::A);
    binary.queries[0].set_name(Name::from_labels(vec![&b"web\0"[..]]).unwrap());
    assert!(matches!(ask(&binary), Answer::Forward(_)));
    assert!(matches!(
        ask(&query(".", RecordType::A)),
        Answer::Forward(_)
    ));
}

#[test]
fn a_reply_too_large_for_udp_is_cut_to_512_bytes_with_tc_set() {
    let (bytes, message) = reply(ask(&query("many.", RecordType::A)));
    assert!(bytes.len() <= 512, "{} bytes", bytes.len());
    // As many as fit: one more A record (16 bytes, its name compressed) would not.
    assert!(bytes.len() + 16 > 512, "{} bytes", bytes.len());
    assert!(message.metadata.truncation);
    assert!(!message.answers.is_empty() && message.answers.len() < 200);

    // A client advertising a larger EDNS payload gets more, and an OPT record back.
    let mut large = query("many.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    large.set_edns(edns);
    let (bytes, message) = reply(ask(&large));
    assert!(
        bytes.len() <= 4096 && bytes.len() > 512,
        "{} bytes",
        bytes.len()
    );
    assert!(!message.metadata.truncation);
    assert_eq!(message.answers.len(), 200);
    assert!(message.edns.is_some());

    // An EDNS payload below 512 still allows 512.
    let mut small = query("many.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(100);
    small.set_edns(edns);
    let (bytes, message) = reply(ask(&small));
    assert!(
        bytes.len() <= 512 && bytes.len() > 400,
        "{} bytes",
        bytes.len()
    );
    assert!(message.metadata.truncation);
}

/// The header of a query: id 0xbeef, RD, and the given counts.
fn header(flags: u8, questions: u16, answers: u16, authorities: u16, additionals: u16) -> Vec<u8> {
    let mut bytes = vec![0xbe, 0xef, flags, 0x00];
    for count in [questions, answers, authorities, additionals] {
        bytes.extend_from_slice(&count.to_be_bytes());
    }
    bytes
}

fn error_reply(query: &[u8]) -> ResponseCode {
    let (_, message) = reply(answer(query, &TestNames));
    assert_eq!(message.metadata.id, 0xbeef);
    assert_eq!(message.metadata.message_type, MessageType::Response);
    assert!(message.queries.is_empty());
    message.metadata.response_code
}

#[test]
fn malformed_queries_get_formerr_when_a_header_can_be_read() {
    // A question count with no question behind it.
    assert_eq!(
        error_reply(&header(0x01, 1, 0, 0, 0)),
        ResponseCode::FormErr
    );
    // No question, or two.
    assert_eq!(
        error_reply(&header(0x01, 0, 0, 0, 0)),
        ResponseCode::FormErr
    );
    let mut two = query("web.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("db.").unwrap(),
        RecordType::A,
    ));
    let mut two = two.to_vec().unwrap();
    two[..2].copy_from_slice(&[0xbe, 0xef]);
    assert_eq!(error_reply(&two), ResponseCode::FormErr);
    // A label running past the end, a compression pointer to itself.
    let mut cut = header(0x01, 1, 0, 0, 0);
    cut.extend_from_slice(&[63, b'w', b'e', b'b']);
    assert_eq!(error_reply(&cut), ResponseCode::FormErr);
    let mut looping = header(0x01, 1, 0, 0, 0);
    looping.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(error_reply(&looping), ResponseCode::FormErr);
    // Absurd record counts.
    assert_eq!(
        error_reply(&header(0x01, 1, 65535, 0, 0)),
        ResponseCode::FormErr
    );
    // Opcodes other than QUERY (here UPDATE) are not implemented.
    assert_eq!(
        error_reply(&header(5 << 3, 1, 0, 0, 0)),
        ResponseCode::NotImp
    );
}

#[test]
fn less_than_a_header_or_a_response_gets_nothing() {
    for bytes in [
        &[][..],
        &[0x12][..],
        &[0xbe, 0xef, 0x01, 0x00, 0x00, 0x01][..],
    ] {
        assert!(matches!(answer(bytes, &TestNames), Answer::Drop));
    }
    let mut response = query("web.", RecordType::A);
    response.metadata.message_type = MessageType::Response;
    assert!(matches!(ask(&response), Answer::Drop));
    assert!(matches!(
        answer(&header(0x80, 1, 0, 0, 0), &TestNames),
        Answer::Drop
    ));
}

#[test]
fn trailing_garbage_and_oversized_queries_do_not_panic() {
    let mut padded = query("web.", RecordType::A).to_vec().unwrap();
    padded.extend(std::iter::repeat_n(0xff, 60_000));
    // Parsed up to the question: answered.
    let (_, message) = reply(answer(&padded, &TestNames));
    assert_eq!(addresses(&message), vec![WEB]);

    // Every prefix and a sweep of single-byte corruptions of a real query.
    let original = query("www.example.com.", RecordType::A).to_vec().unwrap();
    for end in 0..original.len() {
        let _ = answer(&original[..end], &TestNames);
    }
    for position in 0..original.len() {
        for value in [0x00, 0x3f, 0x40, 0x80, 0xc0, 0xff] {
            let mut corrupt = original.clone();
            corrupt[position] = value;
            let _ = answer(&corrupt, &TestNames);
        }
    }
}

#[test]
fn failure_replies_for_forwarded_queries_keep_id_and_question() {
    let Answer::Forward(forwarded) = ask(&query("example.com.", RecordType::A)) else {
        panic!("expected a forward");
    };
    for code in [ResponseCode::ServFail, ResponseCode::Refused] {
        let message = Message::from_vec(&forwarded.failure(code)).unwrap();
        assert_eq!(message.metadata.id, 0x4242);
        assert_eq!(message.metadata.response_code, code);
        assert_eq!(
            message.queries,
            query("example.com.", RecordType::A).queries
        );
        assert!(message.answers.is_empty());
    }
}

#[test]
fn only_a_response_to_the_same_question_answers_a_forwarded_query() {
    let Answer::Forward(forwarded) = ask(&query("Example.COM.", RecordType::A)) else {
        panic!("expected a forward");
    };
    let response = |name: &str, record_type: RecordType| {
        let mut message = query(name, record_type);
        message.metadata.message_type = MessageType::Response;
        message
    };
    // Nameservers may change the case of the name they echo.
    assert!(forwarded.is_answered_by(&response("example.com.", RecordType::A)));
    assert!(!forwarded.is_answered_by(&response("example.org.", RecordType::A)));
    assert!(!forwarded.is_answered_by(&response("example.com.", RecordType::AAAA)));
    assert!(!forwarded.is_answered_by(&query("example.com.", RecordType::A)));
    let mut no_question = response("example.com.", RecordType::A);
    no_question.queries.clear();
    assert!(!forwarded.is_answered_by(&no_question));
}
