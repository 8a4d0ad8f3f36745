//! `--link NAME:ALIAS` on the default bridge, as Docker's legacy links: an /etc/hosts line
//! and the `ALIAS_PORT_80_TCP=tcp://IP:80` family of environment variables.

use std::net::Ipv4Addr;

/// What this container learns about one linked container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedContainer<'a> {
    /// The alias the link gives it.
    pub alias: &'a str,
    /// The linked container's name (no leading `/`).
    pub name: &'a str,
    /// Its hostname.
    pub hostname: &'a str,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its exposed ports (`80/tcp`).
    pub exposed_ports: &'a [String],
    /// Its `Config.Env` (`KEY=VALUE`).
    pub env: &'a [String],
}

/// Docker's /etc/hosts line for a link: `IP<TAB>alias hostname [name]`.
pub fn hosts_line(link: &LinkedContainer) -> String {
    let mut names = format!("{} {}", link.alias, link.hostname);
    if link.alias != link.name {
        names.push(' ');
        names.push_str(link.name);
    }
    format!("{}\t{names}", link.ip)
}

/// Docker's link environment (daemon/links `ToEnv`) for a container named `parent`.
pub fn environment(parent: &str, link: &LinkedContainer) -> Vec<String> {
    let prefix = link.alias.to_ascii_uppercase().replace('-', "_");
    let mut ports: Vec<(u16, String)> = link
        .exposed_ports
        .iter()
        .filter_map(|key| {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            Some((port.parse().ok()?, proto.to_string()))
        })
        .collect();
    ports.sort();
    let mut env = Vec::new();
    if let Some((port, proto)) = ports.first() {
        env.push(format!("{prefix}_PORT={proto}://{}:{port}", link.ip));
    }
    for (port, proto) in &ports {
        let key = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
        env.push(format!("{key}={proto}://{}:{port}", link.ip));
        env.push(format!("{key}_ADDR={}", link.ip));
        env.push(format!("{key}_PORT={port}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    env.push(format!("{prefix}_NAME=/{parent}/{}", link.alias));
    for entry in link.env {
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        // Docker leaves out what every image sets anyway.
        if key != "HOME" && key != "PATH" {
            env.push(format!("{prefix}_ENV_{key}={value}"));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web<'a>(ports: &'a [String], env: &'a [String]) -> LinkedContainer<'a> {
        LinkedContainer {
            alias: "db",
            name: "web",
            hostname: "0123456789ab",
            ip: Ipv4Addr::new(172, 17, 0, 2),
            exposed_ports: ports,
            env,
        }
    }

    #[test]
    fn hosts_lines_name_alias_hostname_and_name() {
        let (ports, env) = (Vec::new(), Vec::new());
        assert_eq!(
            hosts_line(&web(&ports, &env)),
            "172.17.0.2\tdb 0123456789ab web"
        );
        let same = LinkedContainer {
            alias: "web",
            ..web(&ports, &env)
        };
        assert_eq!(hosts_line(&same), "172.17.0.2\tweb 0123456789ab");
    }

    #[test]
    fn environment_is_dockers() {
        let ports = vec!["8080/tcp".to_string(), "80/tcp".into(), "53/udp".into()];
        let env = vec![
            "PATH=/bin".to_string(),
            "GREETING=hi=there".into(),
            "HOME=/root".into(),
        ];
        let got = environment("client", &web(&ports, &env));
        assert_eq!(
            got,
            [
                "DB_PORT=udp://172.17.0.2:53",
                "DB_PORT_53_UDP=udp://172.17.0.2:53",
                "DB_PORT_53_UDP_ADDR=172.17.0.2",
                "DB_PORT_53_UDP_PORT=53",
                "DB_PORT_53_UDP_PROTO=udp",
                "DB_PORT_80_TCP=tcp://172.17.0.2:80",
                "DB_PORT_80_TCP_ADDR=172.17.0.2",
                "DB_PORT_80_TCP_PORT=80",
                "DB_PORT_80_TCP_PROTO=tcp",
                "DB_PORT_8080_TCP=tcp://172.17.0.2:8080",
                "DB_PORT_8080_TCP_ADDR=172.17.0.2",
                "DB_PORT_8080_TCP_PORT=8080",
                "DB_PORT_8080_TCP_PROTO=tcp",
                "DB_NAME=/client/db",
                "DB_ENV_GREETING=hi=there",
            ]
        );
    }
}
