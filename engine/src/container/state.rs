//! What `state.json` holds for one container.

use super::liveness::ProcessRef;
use crate::host::EngineKind;
use serde::{Deserialize, Serialize};

/// A container's lifecycle state, as `ps` and `inspect` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    Created,
    /// Its VM is running.
    Running,
    /// Its VM ended; `exit_code` holds the container's status.
    Exited,
    /// Its VM and supervisor vanished without a result (killed, host rebooted).
    Dead,
    /// Its VM ended and its supervisor boots it again after the back-off (`--restart`).
    Restarting,
}

/// The `run` flags that decide how the VM is booted again on `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptions {
    /// `-t`: the container gets a tty.
    pub tty: bool,
    /// `-i`: stdin stays open.
    pub interactive: bool,
    /// `--rm`: remove when it exits.
    pub auto_remove: bool,
    /// Guest memory in MiB (`-m`, plus what the guest kernel needs).
    pub mem_mib: u64,
    /// The container's memory limit in bytes (`-m`; 0: none), Docker's `HostConfig.Memory`.
    #[serde(default)]
    pub memory_limit: u64,
    /// Docker's `HostConfig.MemorySwap` (`--memory-swap`, else the limit: no swap).
    #[serde(default)]
    pub memory_swap: i64,
    /// Virtual CPUs (`--cpus`, rounded up).
    pub cpus: u32,
    /// The engine that runs its VM.
    #[serde(with = "engine_name")]
    pub engine: EngineKind,
    /// `--cold`: boot the guest kernel on every start instead of restoring the warm-start
    /// zygote.
    #[serde(default)]
    pub cold: bool,
}

/// The live part of a container's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Lifecycle state.
    pub status: Status,
    /// The process supervising the VM (`hull run` in the foreground or `hull shim`).
    pub supervisor: Option<ProcessRef>,
    /// The VMM process (QEMU or hull-vmm).
    pub vmm: Option<ProcessRef>,
    /// Boot id of the host when it was started.
    pub boot_id: String,
    /// RFC 3339 time of the last start.
    pub started_at: Option<String>,
    /// RFC 3339 time of the last exit.
    pub finished_at: Option<String>,
    /// The container's exit status (Docker's: 128+N for signal N).
    pub exit_code: i32,
    /// The container was killed by its cgroup's OOM killer.
    pub oom_killed: bool,
    /// Why it failed to start or ended abnormally.
    pub error: Option<String>,
    /// Its VM's vCPUs are stopped (`hull pause`); it still counts as running, as in Docker.
    #[serde(default)]
    pub paused: bool,
    /// Docker's `RestartCount`: restarts by its `--restart` policy since a user started it.
    #[serde(default)]
    pub restart_count: u32,
    /// A user stopped, killed or removed it: its restart policy no longer applies until a
    /// user starts it again (Docker's `HasBeenManuallyStopped`).
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Its address and published ports while it runs on a network.
    #[serde(default)]
    pub network: Option<super::network::NetworkState>,
}

/// Everything stored about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image reference the user gave.
    pub image: String,
    /// The image's id.
    pub image_id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The process's argv (entrypoint + cmd), for `ps`.
    pub command: Vec<String>,
    /// How to boot it.
    pub options: RunOptions,
    /// The image's layer disk files, bottom first (the run spec names their serials).
    pub layer_paths: Vec<std::path::PathBuf>,
    /// Docker's container-level settings that are not about booting.
    #[serde(default)]
    pub config: ContainerConfig,
    /// The process as Docker's `Config` splits it: the image's merged with the flags.
    #[serde(default)]
    pub process: ProcessConfig,
    /// Where it is in its lifecycle.
    pub state: RunState,
}

/// `--label`, `--expose`, `--stop-signal`, `--stop-timeout`: kept for `inspect`, `ps
/// --filter` and `stop`; `--restart` for the shim; `--init`, `--cap-add`, `--cap-drop`,
/// `--privileged`, `--add-host` as given, for `inspect` (the run spec has their effect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// `--label KEY=VALUE`.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--expose PORT[/PROTO]`, normalized to `80/tcp`.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// `--stop-signal` (a name such as `SIGTERM`); `stop` sends it first.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds: `stop`'s grace when it is given none.
    #[serde(default)]
    pub stop_timeout: Option<u32>,
    /// `--restart`: its supervisor boots it again when it ends.
    #[serde(default)]
    pub restart_policy: super::restart::RestartPolicy,
    /// `--init`: hull-init's tiny init is the container's PID 1.
    #[serde(default)]
    pub init: bool,
    /// `--cap-add`, as given.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// `--cap-drop`, as given.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// `--privileged`: every capability.
    #[serde(default)]
    pub privileged: bool,
    /// `--add-host NAME:IP`, as given.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `--network` and the flags that go with it.
    #[serde(default)]
    pub network: super::network::NetworkConfig,
    /// `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's `VOLUME`s, resolved
    /// at create (anonymous volumes named).
    #[serde(default)]
    pub mounts: Vec<crate::volumes::Mount>,
    /// `--volumes-from CONTAINER[:ro|:rw]`, as given (Docker's `HostConfig.VolumesFrom`).
    #[serde(default)]
    pub volumes_from: Vec<String>,
}

/// Docker's `Config.Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `User`, `Hostname` of a
/// container: the image's merged with the `run` flags, without what the runtime adds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    /// ENTRYPOINT (None: none).
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// CMD (None: none).
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE`, the flags' first, then the image's not overridden.
    #[serde(default)]
    pub env: Vec<String>,
    /// `-w` or the image's WORKDIR ("" for none).
    #[serde(default)]
    pub working_dir: String,
    /// `-u` or the image's USER ("" for none).
    #[serde(default)]
    pub user: String,
    /// The container's hostname.
    #[serde(default)]
    pub hostname: String,
}

impl Container {
    /// A freshly created container.
    pub fn new(
        id: String,
        name: String,
        image: String,
        image_id: String,
        command: Vec<String>,
        options: RunOptions,
        layer_paths: Vec<std::path::PathBuf>,
    ) -> Self {
        Self {
            id,
            name,
            image,
            image_id,
            created: now_rfc3339(),
            command,
            options,
            layer_paths,
            config: ContainerConfig::default(),
            process: ProcessConfig::default(),
            state: RunState {
                status: Status::Created,
                supervisor: None,
                vmm: None,
                boot_id: String::new(),
                started_at: None,
                finished_at: None,
                exit_code: 0,
                oom_killed: false,
                error: None,
                paused: false,
                restart_count: 0,
                stopped_by_user: false,
                network: None,
            },
        }
    }

    /// True while the state says its VM runs (see `ContainerStore::reconcile` for the truth).
    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running
    }

    /// True while it runs with its vCPUs stopped (`hull pause`).
    pub fn is_paused(&self) -> bool {
        self.is_running() && self.state.paused
    }

    /// True while it runs or waits to be restarted: Docker's `State.Running`, what `ps`
    /// lists without `-a`.
    pub fn is_up(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Restarting)
    }
}

/// Now, as RFC 3339 with nanoseconds (Docker's format).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// Parses a time written by [`now_rfc3339`].
pub fn parse_time(text: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

/// `EngineKind` as its command-line name ("hull", "qemu").
mod engine_name {
    use crate::host::EngineKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &EngineKind, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(kind.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EngineKind, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
