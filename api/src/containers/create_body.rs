//! `POST /containers/create`'s body (Docker's `ContainerConfig` + `HostConfig` +
//! `NetworkingConfig`) as the engine's [`CreateRequest`]. Unknown fields are ignored, as
//! dockerd ignores them; what a VM-per-container runtime cannot do is refused with why.

use crate::error::{ApiError, ApiResult};
use hull_engine::container::network::{Link, NetworkConfig, PortSpec};
use hull_engine::container::restart::RestartPolicy;
use hull_engine::container::ContainerConfig;
use hull_engine::containers::memory::MemoryRequest;
use hull_engine::containers::CreateRequest;
use hull_engine::spec::Ulimit;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// A string or a list of strings (`Cmd`, `Entrypoint`, `Shell`): Docker accepts both.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    /// `"echo hi"`: run by the shell, as Docker's string form.
    One(String),
    /// `["echo", "hi"]`.
    List(Vec<String>),
}

impl StringOrList {
    fn into_args(self) -> Vec<String> {
        match self {
            StringOrList::One(text) => vec!["/bin/sh".into(), "-c".into(), text],
            StringOrList::List(list) => list,
        }
    }
}

/// The create body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    pub image: String,
    pub cmd: Option<StringOrList>,
    pub entrypoint: Option<StringOrList>,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub labels: Option<BTreeMap<String, String>>,
    pub exposed_ports: Option<HashMap<String, serde_json::Value>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub mac_address: Option<String>,
    pub volumes: Option<HashMap<String, serde_json::Value>>,
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<NetworkingConfig>,
}

/// `HostConfig`: the parts hull has.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<super::mounts_body::MountBody>>,
    pub tmpfs: Option<HashMap<String, String>>,
    pub volumes_from: Option<Vec<String>>,
    pub devices: Option<Vec<serde_json::Value>>,
    pub network_mode: String,
    pub port_bindings: Option<HashMap<String, Option<Vec<PortBinding>>>>,
    pub publish_all_ports: bool,
    pub links: Option<Vec<String>>,
    pub dns: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub oom_kill_disable: Option<bool>,
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    pub auto_remove: bool,
    pub restart_policy: Option<RestartPolicyBody>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub group_add: Option<Vec<String>>,
    pub ulimits: Option<Vec<UlimitBody>>,
    pub init: Option<bool>,
    pub pid_mode: String,
    pub ipc_mode: String,
    pub userns_mode: String,
}

/// One host side of a published port.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `RestartPolicy`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicyBody {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// One `Ulimits` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UlimitBody {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// `NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<HashMap<String, EndpointConfig>>,
}

/// One network's settings for the container.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointConfig {
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<IpamConfig>,
    pub mac_address: String,
}

/// An endpoint's requested address.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpamConfig {
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

fn non_empty<T>(list: &Option<Vec<T>>) -> bool {
    list.as_ref().is_some_and(|l| !l.is_empty())
}

impl CreateBody {
    /// The engine's request for container `name`.
    pub fn into_request(self, name: Option<String>) -> ApiResult<CreateRequest> {
        if self.image.is_empty() {
            return Err(bad("config cannot be empty in order to create a container"));
        }
        let host = self.host_config.unwrap_or_default();
        refuse_unsupported(&host)?;
        let mounts = super::mounts_body::requested_mounts(
            host.binds.as_deref(),
            host.mounts.as_deref(),
            host.tmpfs.as_ref(),
            self.volumes.as_ref(),
        )?;
        // Docker's list entrypoint: the first word is the program, the rest come before Cmd
        // (a given entrypoint clears the image's Cmd, so nothing else comes between them).
        let mut command = Vec::new();
        let entrypoint = match self.entrypoint.map(StringOrList::into_args) {
            None => None,
            Some(list) if list.is_empty() => Some(String::new()),
            Some(list) => {
                let mut words = list.into_iter();
                let program = words.next();
                command.extend(words);
                program
            }
        };
        command.extend(self.cmd.map(StringOrList::into_args).unwrap_or_default());
        let hostname = match (self.hostname.is_empty(), self.domainname.is_empty()) {
            (true, _) => None,
            (false, true) => Some(self.hostname),
            (false, false) => Some(format!("{}.{}", self.hostname, self.domainname)),
        };
        let positive = |n: i64| u64::try_from(n).ok().filter(|n| *n > 0);
        let network = network_config(&host, self.networking_config, self.mac_address)?;
        #[allow(clippy::cast_precision_loss)]
        let cpus = (host.nano_cpus > 0).then(|| host.nano_cpus as f64 / 1e9);
        // Docker's daemon never pulls on create (clients pull on a 404 and retry); the base
        // images hull makes offline are made, as before.
        let pull = if hull_engine::images::is_offline_base(&self.image) {
            hull_engine::images::PullPolicy::Missing
        } else {
            hull_engine::images::PullPolicy::Never
        };
        Ok(CreateRequest {
            image: self.image,
            pull,
            name,
            command,
            entrypoint,
            env: self.env.unwrap_or_default(),
            workdir: (!self.working_dir.is_empty()).then_some(self.working_dir),
            user: (!self.user.is_empty()).then_some(self.user),
            hostname,
            tty: self.tty,
            interactive: self.open_stdin,
            auto_remove: host.auto_remove,
            memory: MemoryRequest {
                limit: positive(host.memory),
                swap: (host.memory_swap != 0).then_some(host.memory_swap),
                reservation: positive(host.memory_reservation),
                oom_kill_disable: host.oom_kill_disable.unwrap_or(false),
            },
            cpus,
            pids_limit: host.pids_limit.filter(|n| *n != 0),
            engine: None,
            console_size: None,
            config: ContainerConfig {
                labels: self.labels.unwrap_or_default(),
                exposed_ports: self
                    .exposed_ports
                    .unwrap_or_default()
                    .into_keys()
                    .map(|key| {
                        if key.contains('/') {
                            key
                        } else {
                            format!("{key}/tcp")
                        }
                    })
                    .collect(),
                stop_signal: self.stop_signal.filter(|s| !s.is_empty()),
                stop_timeout: self.stop_timeout,
                restart_policy: restart_policy(host.restart_policy)?,
                init: host.init.unwrap_or(false),
                cap_add: host.cap_add.unwrap_or_default(),
                cap_drop: host.cap_drop.unwrap_or_default(),
                privileged: host.privileged,
                extra_hosts: host.extra_hosts.unwrap_or_default(),
                network,
                mounts,
                volumes_from: host.volumes_from.clone().unwrap_or_default(),
            },
            read_only: host.readonly_rootfs,
            group_add: host
                .group_add
                .unwrap_or_default()
                .iter()
                .map(|gid| {
                    gid.parse()
                        .map_err(|_| bad(format!("GroupAdd {gid:?}: hull takes numeric gids")))
                })
                .collect::<ApiResult<_>>()?,
            ulimits: host
                .ulimits
                .unwrap_or_default()
                .into_iter()
                .map(|u| Ulimit {
                    name: u.name,
                    soft: u.soft,
                    hard: u.hard,
                })
                .collect(),
            hold: false,
            cold: false,
        })
    }
}

/// Refuses what a container in its own VM cannot have, or hull has not built yet.
fn refuse_unsupported(host: &HostConfig) -> ApiResult<()> {
    if non_empty(&host.devices) {
        return Err(bad(
            "devices cannot be passed through: each hull container runs in its own virtual machine, which sees only virtio devices",
        ));
    }
    for (mode, what) in [
        (&host.pid_mode, "PidMode"),
        (&host.ipc_mode, "IpcMode"),
        (&host.userns_mode, "UsernsMode"),
    ] {
        if mode == "host" || mode.starts_with("container:") {
            return Err(bad(format!(
                "{what} {mode:?} is not possible: each hull container runs its own kernel in its own virtual machine"
            )));
        }
    }
    Ok(())
}

fn restart_policy(body: Option<RestartPolicyBody>) -> ApiResult<RestartPolicy> {
    let Some(body) = body else {
        return Ok(RestartPolicy::default());
    };
    let text = match (body.name.as_str(), body.maximum_retry_count) {
        ("on-failure", n) if n > 0 => format!("on-failure:{n}"),
        (name, _) => name.to_string(),
    };
    text.parse().map_err(bad)
}

fn network_config(
    host: &HostConfig,
    networking: Option<NetworkingConfig>,
    mac: Option<String>,
) -> ApiResult<NetworkConfig> {
    let mode = match host.network_mode.as_str() {
        "" | "default" => "bridge".to_string(),
        other => other.to_string(),
    };
    let endpoint = networking
        .and_then(|n| n.endpoints_config)
        .and_then(|mut endpoints| endpoints.remove(&mode));
    let (aliases, ip, endpoint_mac) = match endpoint {
        Some(endpoint) => (
            endpoint.aliases.unwrap_or_default(),
            endpoint.ipam_config.map(|c| c.ipv4_address),
            Some(endpoint.mac_address),
        ),
        None => (Vec::new(), None, None),
    };
    let ip = match ip.filter(|ip| !ip.is_empty()) {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| bad(format!("invalid IPv4 address: {ip}")))?,
        ),
        None => None,
    };
    let parse_ips = |list: &Option<Vec<String>>| -> ApiResult<Vec<std::net::IpAddr>> {
        list.iter()
            .flatten()
            .map(|ip| {
                ip.parse()
                    .map_err(|_| bad(format!("invalid IP address: {ip}")))
            })
            .collect()
    };
    let mut publish = Vec::new();
    for (key, bindings) in host.port_bindings.iter().flatten() {
        for binding in bindings.iter().flatten() {
            let mut text = String::new();
            if !binding.host_ip.is_empty() {
                text.push_str(&binding.host_ip);
                text.push(':');
            }
            if !binding.host_port.is_empty() || !binding.host_ip.is_empty() {
                text.push_str(&binding.host_port);
                text.push(':');
            }
            text.push_str(key);
            publish.push(text.parse::<PortSpec>().map_err(bad)?);
        }
    }
    Ok(NetworkConfig {
        mode,
        aliases,
        ip,
        mac: mac.into_iter().chain(endpoint_mac).find(|m| !m.is_empty()),
        dns: parse_ips(&host.dns)?,
        dns_search: host.dns_search.clone().unwrap_or_default(),
        dns_options: host.dns_options.clone().unwrap_or_default(),
        links: host
            .links
            .iter()
            .flatten()
            .map(|link| link.parse::<Link>().map_err(bad))
            .collect::<ApiResult<_>>()?,
        publish,
        publish_all: host.publish_all_ports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> ApiResult<CreateRequest> {
        serde_json::from_value::<CreateBody>(body)
            .unwrap()
            .into_request(Some("web".into()))
    }

    #[test]
    fn dockers_create_body_becomes_the_engines_request() {
        let request = request(serde_json::json!({
            "Image": "busybox", "Cmd": ["echo", "hi"], "Env": ["A=1"], "Tty": true,
            "OpenStdin": true, "Labels": {"k": "v"}, "ExposedPorts": {"80/tcp": {}},
            "UnknownField": 7,
            "HostConfig": {
                "Memory": 67108864, "NanoCpus": 1500000000, "AutoRemove": true,
                "NetworkMode": "default", "Links": ["/db:/web/db"],
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}
            }
        }))
        .unwrap();
        assert_eq!(request.command, ["echo", "hi"]);
        assert_eq!(request.name.as_deref(), Some("web"));
        assert!(request.tty && request.interactive && request.auto_remove);
        assert_eq!(request.memory.limit, Some(64 << 20));
        assert_eq!(request.cpus, Some(1.5));
        assert_eq!(request.config.exposed_ports, ["80/tcp"]);
        assert_eq!(request.config.network.mode, "bridge");
        assert_eq!(request.config.network.publish[0].host_port, Some(8080));
        assert_eq!(request.config.network.links[0].container, "db");
    }

    #[test]
    fn a_list_entrypoint_puts_its_arguments_before_cmd() {
        let request = request(
            serde_json::json!({"Image": "busybox", "Entrypoint": ["sh", "-c"], "Cmd": ["exit 3"]}),
        )
        .unwrap();
        assert_eq!(request.entrypoint.as_deref(), Some("sh"));
        assert_eq!(request.command, ["-c", "exit 3"]);
        let cleared = request_entrypoint(serde_json::json!({"Image": "busybox", "Entrypoint": []}));
        assert_eq!(cleared.as_deref(), Some(""));
    }

    fn request_entrypoint(body: serde_json::Value) -> Option<String> {
        request(body).unwrap().entrypoint
    }

    #[test]
    fn what_a_vm_cannot_have_is_refused_with_why() {
        let devices = request(serde_json::json!({"Image": "busybox",
            "HostConfig": {"Devices": [{"PathOnHost": "/dev/fuse"}]}}));
        assert!(devices.unwrap_err().message.contains("own virtual machine"));
        let pid =
            request(serde_json::json!({"Image": "busybox", "HostConfig": {"PidMode": "host"}}));
        assert_eq!(pid.unwrap_err().status, 400);
        let binds =
            request(serde_json::json!({"Image": "busybox", "HostConfig": {"Binds": ["a b:/b"]}}));
        assert_eq!(binds.unwrap_err().status, 400);
        assert_eq!(
            request(serde_json::json!({"Cmd": ["x"]}))
                .unwrap_err()
                .status,
            400
        );
    }
}
