//! IPv4 subnets: parsing and validating `--subnet`/`--gateway`, overlap, and Docker's
//! default address pools (the default `bridge` on 172.17.0.0/16, new networks on the first
//! free of 172.18.0.0/16 … 172.31.0.0/16, then 192.168.0.0/20, 192.168.16.0/20, …).

use crate::error::{Error, Result};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// The default bridge's subnet, as Docker's.
pub const DEFAULT_BRIDGE_SUBNET: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(172, 17, 0, 0), 16) {
    Ok(net) => net,
    Err(_) => panic!("a valid prefix"),
};

/// Parses `--subnet`: an IPv4 CIDR whose host bits are zero and that leaves room for a
/// gateway and at least one container.
pub fn parse_subnet(text: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = match text.parse() {
        Ok(net) => net,
        Err(_) if text.parse::<ipnet::Ipv6Net>().is_ok() => {
            return Err(Error::Ipv6Unsupported(text.to_string()))
        }
        Err(_) => return Err(Error::InvalidSubnet(text.to_string())),
    };
    if net.addr() != net.network() {
        return Err(Error::SubnetHostBits {
            given: text.to_string(),
            network: net.trunc().to_string(),
        });
    }
    if net.prefix_len() > 30 {
        return Err(Error::SubnetTooSmall(text.to_string()));
    }
    Ok(net)
}

/// The gateway of `subnet`: `requested` if it is one of its host addresses, else the first
/// host address (as Docker picks).
pub fn gateway_for(subnet: Ipv4Net, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
    match requested {
        None => Ok(first_host(subnet)),
        Some(gateway) if !subnet.contains(&gateway) => Err(Error::GatewayOutsideSubnet(gateway)),
        Some(gateway) if gateway == subnet.network() || gateway == subnet.broadcast() => {
            Err(Error::GatewayReserved(gateway))
        }
        Some(gateway) => Ok(gateway),
    }
}

/// The first address after the network address.
pub fn first_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// Whether two subnets share any address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The host addresses of `subnet` a container may get: all but the network and broadcast
/// addresses (the gateway is skipped by the caller, who knows it).
pub fn host_addresses(subnet: Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
    let first = u32::from(subnet.network()) + 1;
    let last = u32::from(subnet.broadcast());
    (first..last).map(Ipv4Addr::from)
}

/// Docker's default address pools, in the order it hands them out.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let wide = (17..=31u8).map(|second| Ipv4Net::new(Ipv4Addr::new(172, second, 0, 0), 16));
    let narrow = (0..16u8).map(|step| Ipv4Net::new(Ipv4Addr::new(192, 168, step * 16, 0), 20));
    wide.chain(narrow)
        .map(|net| net.expect("prefixes 16 and 20 are valid"))
}

/// The first default pool that overlaps none of `taken`.
pub fn first_free_pool(taken: &[Ipv4Net]) -> Result<Ipv4Net> {
    default_pools()
        .find(|pool| !taken.iter().any(|used| overlaps(*pool, *used)))
        .ok_or(Error::PoolsExhausted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    #[test]
    fn subnets_parse_as_docker_accepts_them() {
        assert_eq!(parse_subnet("10.1.0.0/16").unwrap(), net("10.1.0.0/16"));
        assert!(matches!(parse_subnet("foo"), Err(Error::InvalidSubnet(_))));
        assert!(matches!(
            parse_subnet("10.0.0.0"),
            Err(Error::InvalidSubnet(_))
        ));
        assert!(matches!(
            parse_subnet("10.0.0.0/33"),
            Err(Error::InvalidSubnet(_))
        ));
        assert!(matches!(
            parse_subnet("fd00::/64"),
            Err(Error::Ipv6Unsupported(_))
        ));
        assert!(matches!(
            parse_subnet("10.0.0.0/31"),
            Err(Error::SubnetTooSmall(_))
        ));
        let err = parse_subnet("10.1.2.3/16").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"
        );
        assert_eq!(
            parse_subnet("foo").unwrap_err().to_string(),
            "invalid subnet foo: invalid CIDR address: foo"
        );
    }

    #[test]
    fn the_gateway_is_the_first_host_unless_a_valid_one_is_given() {
        let subnet = net("10.1.0.0/16");
        assert_eq!(
            gateway_for(subnet, None).unwrap(),
            Ipv4Addr::new(10, 1, 0, 1)
        );
        let given = Ipv4Addr::new(10, 1, 3, 7);
        assert_eq!(gateway_for(subnet, Some(given)).unwrap(), given);
        let outside = Ipv4Addr::new(10, 2, 0, 1);
        assert_eq!(
            gateway_for(subnet, Some(outside)).unwrap_err().to_string(),
            "no matching subnet for gateway 10.2.0.1"
        );
        assert!(gateway_for(subnet, Some(Ipv4Addr::new(10, 1, 0, 0))).is_err());
        assert!(gateway_for(subnet, Some(Ipv4Addr::new(10, 1, 255, 255))).is_err());
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(overlaps(net("10.0.0.0/8"), net("10.1.0.0/16")));
        assert!(overlaps(net("10.1.0.0/16"), net("10.0.0.0/8")));
        assert!(overlaps(net("10.1.0.0/16"), net("10.1.0.0/16")));
        assert!(!overlaps(net("10.1.0.0/16"), net("10.2.0.0/16")));
        assert!(!overlaps(net("192.168.0.0/20"), net("192.168.16.0/20")));
    }

    #[test]
    fn pools_are_dockers_defaults_in_order() {
        let pools: Vec<_> = default_pools().collect();
        assert_eq!(pools[0], DEFAULT_BRIDGE_SUBNET);
        assert_eq!(pools[1], net("172.18.0.0/16"));
        assert_eq!(pools[14], net("172.31.0.0/16"));
        assert_eq!(pools[15], net("192.168.0.0/20"));
        assert_eq!(pools[16], net("192.168.16.0/20"));
        assert_eq!(pools.len(), 31);
    }

    #[test]
    fn the_first_free_pool_skips_every_overlap() {
        let mut taken = vec![DEFAULT_BRIDGE_SUBNET];
        assert_eq!(first_free_pool(&taken).unwrap(), net("172.18.0.0/16"));
        taken.push(net("172.18.5.0/24"));
        assert_eq!(first_free_pool(&taken).unwrap(), net("172.19.0.0/16"));
        taken.push(net("172.16.0.0/12"));
        assert_eq!(first_free_pool(&taken).unwrap(), net("192.168.0.0/20"));
        taken.push(net("192.168.0.0/16"));
        assert!(matches!(
            first_free_pool(&taken),
            Err(Error::PoolsExhausted)
        ));
    }

    #[test]
    fn host_addresses_exclude_network_and_broadcast() {
        let hosts: Vec<_> = host_addresses(net("10.0.0.0/30")).collect();
        assert_eq!(
            hosts,
            [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]
        );
    }
}
