//! `--add-host NAME:IP`: Docker's parsing; the guest writes the entries into the
//! container's /etc/hosts.

use std::net::IpAddr;

/// The `/etc/hosts` line (`IP<TAB>NAME`) of one `--add-host` value (`NAME:IP`, or
/// Docker's newer `NAME=IP`; an IPv6 address may follow the first colon, in brackets or
/// not). `host-gateway` is refused: hull containers have no network to reach the host by.
pub fn hosts_line(entry: &str) -> Result<String, String> {
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
        return Err(
            "--add-host with host-gateway is not supported: hull containers have no network to reach the host through yet".into(),
        );
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
        assert!(hosts_line("gw:host-gateway")
            .unwrap_err()
            .contains("no network"));
    }
}
