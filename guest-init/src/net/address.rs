//! Pure helpers for the interface settings: MAC addresses and netmasks.

use std::fmt;
use std::net::Ipv4Addr;

/// An Ethernet hardware address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `02:42:ac:11:00:02` (six hex pairs, `:` or `-` separated, any case).
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 6];
        let mut parts = text.split([':', '-']);
        for byte in &mut bytes {
            let part = parts.next()?;
            if part.len() != 2 {
                return None;
            }
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        parts.next().is_none().then_some(Self(bytes))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The netmask of a prefix length (16 -> 255.255.0.0); None above 32.
pub fn netmask(prefix_len: u8) -> Option<Ipv4Addr> {
    match prefix_len {
        0 => Some(Ipv4Addr::UNSPECIFIED),
        1..=32 => Some(Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix_len)))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_in_either_notation_and_print_as_the_kernel_does() {
        let mac = Mac::parse("02:42:AC:11:00:02").unwrap();
        assert_eq!(mac, Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]));
        assert_eq!(mac.to_string(), "02:42:ac:11:00:02");
        assert_eq!(Mac::parse("02-42-ac-11-00-02"), Some(mac));
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
            "02:42:ac:11:00:zz",
            "0242ac110002",
        ] {
            assert_eq!(Mac::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn netmask_of_a_prefix_length() {
        assert_eq!(netmask(16), Some(Ipv4Addr::new(255, 255, 0, 0)));
        assert_eq!(netmask(24), Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(netmask(20), Some(Ipv4Addr::new(255, 255, 240, 0)));
        assert_eq!(netmask(32), Some(Ipv4Addr::BROADCAST));
        assert_eq!(netmask(1), Some(Ipv4Addr::new(128, 0, 0, 0)));
        assert_eq!(netmask(0), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(netmask(33), None);
    }
}
