//! `hull port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published ports, as
//! Docker's `80/tcp -> 0.0.0.0:8080` lines.

use crate::args::Globals;
use crate::exit::daemon_error;
use anyhow::Result;
use hull_engine::containers::PublishedPort;

/// `hull port` flags.
#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// The container.
    pub container: String,
    /// Only this port (`80`, `80/tcp`, `53/udp`).
    pub private_port: Option<String>,
}

/// Prints the published ports; exit 1 (Docker's CLI) when the asked port is not published.
pub fn run(args: PortArgs, globals: &Globals) -> Result<i32> {
    let asked = args
        .private_port
        .as_deref()
        .map(parse_private_port)
        .transpose()?;
    let containers = super::containers(globals)?;
    let ports = containers
        .published_ports(&args.container)
        .map_err(daemon_error)?;
    match asked {
        None => {
            for port in &ports {
                println!(
                    "{}/{} -> {}",
                    port.container_port,
                    port.protocol,
                    host_address(port)
                );
            }
        }
        Some((number, protocol)) => {
            let matching: Vec<&PublishedPort> = ports
                .iter()
                .filter(|p| p.container_port == number && p.protocol == protocol)
                .collect();
            if matching.is_empty() {
                return Err(crate::exit::with_code(
                    crate::exit::DOCKER_DAEMON_ERROR,
                    format!(
                        "Error: No public port '{number}/{protocol}' published for {}",
                        args.container
                    ),
                ));
            }
            for port in matching {
                println!("{}", host_address(port));
            }
        }
    }
    Ok(0)
}

/// `80` -> (80, tcp); `53/udp` -> (53, udp).
fn parse_private_port(text: &str) -> Result<(u16, String)> {
    let (number, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let number: u16 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("Error: invalid port ({text}): use NUMBER[/tcp|udp]"))?;
    match protocol {
        "tcp" | "udp" | "sctp" => Ok((number, protocol.to_string())),
        _ => anyhow::bail!("Error: invalid protocol in {text}: use tcp, udp or sctp"),
    }
}

/// `0.0.0.0:8080`, `[::]:8080`.
fn host_address(port: &PublishedPort) -> String {
    if port.host_ip.contains(':') {
        format!("[{}]:{}", port.host_ip, port.host_port)
    } else {
        format!("{}:{}", port.host_ip, port.host_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ports_default_to_tcp() {
        assert_eq!(parse_private_port("80").unwrap(), (80, "tcp".into()));
        assert_eq!(parse_private_port("53/udp").unwrap(), (53, "udp".into()));
        assert!(parse_private_port("0").is_err());
        assert!(parse_private_port("http").is_err());
        assert!(parse_private_port("80/icmp").is_err());
    }

    #[test]
    fn ipv6_host_addresses_are_bracketed() {
        let port = PublishedPort {
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: "::".into(),
            host_port: 8080,
        };
        assert_eq!(host_address(&port), "[::]:8080");
    }
}
