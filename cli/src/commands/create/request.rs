//! How the flags of `hull create` and `hull run` become the engine's `CreateRequest`.

use super::CreateArgs;
use crate::args::Globals;
use anyhow::{bail, Result};
use hull_engine::container::ContainerConfig;
use hull_engine::containers::CreateRequest;
use hull_engine::supervisor::terminal;

impl CreateArgs {
    /// The engine's request for these flags.
    pub fn request(&self, globals: &Globals) -> Result<CreateRequest> {
        Ok(CreateRequest {
            image: self.image.clone(),
            pull: self.pull.parse()?,
            name: self.name.clone(),
            command: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            env: crate::env::collect(&self.env_file, &self.env)?,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            tty: self.tty,
            interactive: self.interactive,
            auto_remove: self.rm,
            memory: self.memory.request(),
            cpus: self.cpus,
            pids_limit: self.pids_limit,
            engine: globals.vmm,
            console_size: if self.tty { terminal::size() } else { None },
            config: ContainerConfig {
                labels: self.labels.iter().map(|l| crate::args::label(l)).collect(),
                exposed_ports: self
                    .expose
                    .iter()
                    .map(|port| expose_key(port))
                    .collect::<Result<_>>()?,
                stop_signal: self.stop_signal.clone(),
                stop_timeout: self.stop_timeout,
                restart_policy: self.host.restart.clone(),
                init: self.host.init,
                cap_add: self.host.cap_add.clone(),
                cap_drop: self.host.cap_drop.clone(),
                privileged: self.host.privileged,
                extra_hosts: self.host.add_host.clone(),
                network: self.net.config(),
                mounts: self.storage.mounts()?,
                volumes_from: self.storage.volumes_from.clone(),
            },
            read_only: self.read_only,
            group_add: self.group_add.clone(),
            ulimits: self.ulimits.clone(),
            hold: false,
            cold: self.cold,
        })
    }
}

/// `--expose 80` is `80/tcp`, as Docker stores it.
fn expose_key(port: &str) -> Result<String> {
    let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    if number.parse::<u16>().is_err() || !["tcp", "udp", "sctp"].contains(&proto) {
        bail!("invalid port {port:?} for --expose: use PORT[/tcp|udp|sctp]");
    }
    Ok(format!("{number}/{proto}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_ports_default_to_tcp() {
        assert_eq!(expose_key("80").unwrap(), "80/tcp");
        assert_eq!(expose_key("53/udp").unwrap(), "53/udp");
        assert!(expose_key("http").is_err());
        assert!(expose_key("80/icmp").is_err());
    }
}
