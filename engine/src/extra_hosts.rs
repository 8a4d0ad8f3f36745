//! `--add-host NAME:IP`: Docker's parsing; the guest writes the entries into the
//! container's /etc/hosts.

use std::net::IpAddr;

/// The `/etc/hosts` line (`IP<TAB>NAME`) of one `--add-host` value (`NAME:IP`, or
/// Docker's newer `NAME=IP`; an IPv6 address may follow the first colon, in brackets or
/// not). `host-gateway` is the address at which the containers' networks reach the host's
/// 127.0.0.1 through pasta (`hull_network::outbound`), refused where there is none.
pub fn hosts_line(entry: &str) -> Result<String, String> {
    hosts_line_with(entry, hull_network::outbound::host_gateway)
}

/// [`hosts_line`] with `host_gateway` telling what `host-gateway` stands for.
fn hosts_line_with(
    entry: &str,
    host_gateway: impl FnOnce() -> Option<std::net::Ipv4Addr>,
) -> Result<String, String> {
    let bad_format = || {
        format!("invalid argument {entry:?} for \"--add-host\" flag: bad format for add-host: {entry:?}")
    };
    let (name, address) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .ok_or_else(bad_format)?;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad_format());
    }
    if address == "host-gateway" {
        let gateway = host_gateway().ok_or_else(|| {
            format!(
                "--add-host {entry}: host-gateway needs outbound traffic to the host, and {}",
                hull_network::outbound::describe(false)
            )
        })?;
        return Ok(format!("{gateway}\t{name}"));
    }
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    let ip: IpAddr = bare.parse().map_err(|_| {
        format!("invalid argument {entry:?} for \"--add-host\" flag: invalid IP address in add-host: {address:?}")
    })?;
    Ok(format!("{ip}\t{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_hosts_lines() {
        assert_eq!(hosts_line("db:10.0.0.5").unwrap(), "10.0.0.5\tdb");
        assert_eq!(hosts_line("db=10.0.0.5").unwrap(), "10.0.0.5\tdb");
        assert_eq!(hosts_line("v6:::1").unwrap(), "::1\tv6");
        assert_eq!(hosts_line("v6:[fe80::1]").unwrap(), "fe80::1\tv6");
    }

    #[test]
    fn bad_entries_are_refused_with_dockers_words() {
        assert!(hosts_line("nocolon")
            .unwrap_err()
            .contains("bad format for add-host"));
        assert!(hosts_line("db:notanip")
            .unwrap_err()
            .contains("invalid IP address"));
        assert!(hosts_line(":1.2.3.4").is_err());
        assert!(hosts_line_with("gw:host-gateway", || None)
            .unwrap_err()
            .contains("host-gateway needs outbound traffic"));
    }

    #[test]
    fn host_gateway_is_the_address_pasta_maps_to_the_host() {
        let gateway = || Some(std::net::Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            hosts_line_with("host.docker.internal:host-gateway", gateway).unwrap(),
            "192.0.2.1\thost.docker.internal"
        );
    }
}
