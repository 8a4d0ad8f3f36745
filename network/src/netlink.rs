//! The few rtnetlink requests hull needs inside a network's namespace: bring a link up,
//! create the bridge, give it the gateway address, enslave a tap, list links. A [`Rtnl`]
//! talks to the namespace of the thread that opened it (open it inside
//! [`crate::in_namespace`] or in the network's daemon).

use crate::error::{Error, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// A link as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The bridge it is enslaved to.
    pub controller: Option<u32>,
    /// IFF_UP.
    pub up: bool,
}

/// An rtnetlink socket in the opening thread's network namespace.
pub struct Rtnl {
    socket: Socket,
    sequence: u32,
}

impl Rtnl {
    /// Opens one in the calling thread's namespace.
    pub fn open() -> Result<Self> {
        let fail = |source| Error::Netlink {
            operation: "socket".into(),
            source,
        };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(fail)?;
        socket.bind_auto().map_err(fail)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(fail)?;
        Ok(Self {
            socket,
            sequence: 0,
        })
    }

    /// Sends `message` and collects the answers until the kernel's ack (or the end of a
    /// dump); a negative ack becomes the error.
    fn request(
        &mut self,
        operation: &str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let fail = |source| Error::Netlink {
            operation: operation.to_string(),
            source,
        };
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        self.socket.send(&buffer, 0).map_err(fail)?;
        let mut answers = Vec::new();
        loop {
            let (received, _) = self.socket.recv_from_full().map_err(fail)?;
            let mut offset = 0;
            while offset < received.len() {
                let answer =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&received[offset..])
                        .map_err(|err| {
                            fail(io::Error::new(io::ErrorKind::InvalidData, err.to_string()))
                        })?;
                let length = answer.header.length as usize;
                if answer.header.sequence_number == self.sequence {
                    match answer.payload {
                        NetlinkPayload::Done(_) => return Ok(answers),
                        NetlinkPayload::Error(error) => {
                            return match error.code {
                                None => Ok(answers),
                                Some(code) => Err(fail(io::Error::from_raw_os_error(-code.get()))),
                            }
                        }
                        NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                        _ => {}
                    }
                }
                if length == 0 {
                    break;
                }
                offset += length;
            }
        }
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let answers = self.request(
            "list links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|answer| match answer {
                RouteNetlinkMessage::NewLink(link) => Some(link_of(&link)),
                _ => None,
            })
            .collect())
    }

    /// The link named `name`, if any.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        Ok(self.links()?.into_iter().find(|link| link.name == name))
    }

    /// The index of link `name`; an error if there is none.
    pub fn index_of(&mut self, name: &str) -> Result<u32> {
        self.link(name)?
            .map(|link| link.index)
            .ok_or_else(|| Error::Netlink {
                operation: format!("find link {name}"),
                source: io::Error::from_raw_os_error(libc::ENODEV),
            })
    }

    /// Sets link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        self.request("set link up", RouteNetlinkMessage::SetLink(link), 0)
            .map(drop)
    }

    /// Enslaves link `index` to bridge `controller`.
    pub fn set_controller(&mut self, index: u32, controller: u32) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.attributes.push(LinkAttribute::Controller(controller));
        self.request(
            "attach a link to the bridge",
            RouteNetlinkMessage::SetLink(link),
            0,
        )
        .map(drop)
    }

    /// Creates bridge `name` with `mtu` (down); returns its index.
    pub fn create_bridge(&mut self, name: &str, mtu: u32) -> Result<u32> {
        let mut link = LinkMessage::default();
        link.attributes
            .push(LinkAttribute::IfName(name.to_string()));
        link.attributes.push(LinkAttribute::Mtu(mtu));
        link.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            "create the bridge",
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        self.index_of(name)
    }

    /// Gives link `index` the address `ip/prefix_len`.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix_len: u8) -> Result<()> {
        let mut address = AddressMessage::default();
        address.header.family = AddressFamily::Inet;
        address.header.prefix_len = prefix_len;
        address.header.index = index;
        address
            .attributes
            .push(AddressAttribute::Local(IpAddr::V4(ip)));
        address
            .attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        let host_bits = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(ip) | host_bits);
        address
            .attributes
            .push(AddressAttribute::Broadcast(broadcast));
        self.request(
            "add the gateway address",
            RouteNetlinkMessage::NewAddress(address),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// The IPv4 addresses of link `index`, with their prefix lengths.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut query = AddressMessage::default();
        query.header.family = AddressFamily::Inet;
        let answers = self.request(
            "list addresses",
            RouteNetlinkMessage::GetAddress(query),
            NLM_F_DUMP,
        )?;
        let mut found = Vec::new();
        for answer in answers {
            let RouteNetlinkMessage::NewAddress(address) = answer else {
                continue;
            };
            if address.header.index != index {
                continue;
            }
            for attribute in &address.attributes {
                if let AddressAttribute::Local(IpAddr::V4(ip)) = attribute {
                    found.push((*ip, address.header.prefix_len));
                }
            }
        }
        Ok(found)
    }
}

fn link_of(message: &LinkMessage) -> Link {
    let mut link = Link {
        index: message.header.index,
        name: String::new(),
        controller: None,
        up: message.header.flags.contains(LinkFlags::Up),
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name.clone_from(name),
            LinkAttribute::Controller(index) => link.controller = Some(*index),
            _ => {}
        }
    }
    link
}
