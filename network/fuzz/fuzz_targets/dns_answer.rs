//! `hull_network::dns::answer` on arbitrary datagrams, as a container can send them to its
//! network's resolver: no panic, no hang, and every reply is a well-formed response to the
//! query (same id) that fits the size the query allows.

#![no_main]

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hull_network::dns::{answer, Answer, Names};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

/// A network with a few names, one of them on many containers (replies that need cutting).
struct FuzzNames;

impl Names for FuzzNames {
    fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        match name.to_ascii_lowercase().as_str() {
            "web" | "www" | "web.mynet" => vec![Ipv4Addr::new(172, 18, 0, 2)],
            "a" => (0..100).map(|n| Ipv4Addr::new(172, 18, 1, n)).collect(),
            _ => Vec::new(),
        }
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        (ip == Ipv4Addr::new(172, 18, 0, 2)).then(|| "web.mynet".to_string())
    }
}

fuzz_target!(|query: &[u8]| {
    let payload_allowed = Message::from_vec(query)
        .ok()
        .and_then(|message| message.edns.map(|edns| usize::from(edns.max_payload())))
        .unwrap_or(0)
        .max(512);
    match answer(query, &FuzzNames) {
        Answer::Reply(reply) => check_reply(query, &reply, payload_allowed),
        Answer::Forward(forwarded) => {
            for code in [ResponseCode::ServFail, ResponseCode::Refused] {
                let reply = forwarded.failure(code);
                check_reply(query, &reply, payload_allowed);
                assert_eq!(
                    Message::from_vec(&reply).unwrap().metadata.response_code,
                    code
                );
            }
        }
        Answer::Drop => {}
    }
});

fn check_reply(query: &[u8], reply: &[u8], payload_allowed: usize) {
    assert!(
        reply.len() <= payload_allowed,
        "{} > {payload_allowed}",
        reply.len()
    );
    let message = Message::from_vec(reply).expect("a reply decodes");
    assert_eq!(message.metadata.message_type, MessageType::Response);
    assert_eq!(&reply[..2], &query[..2], "the reply keeps the query's id");
}
