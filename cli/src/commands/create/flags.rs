//! The flags that define a container (Docker's names): `hull create`'s, and `hull run`'s
//! besides `-d`. The memory, network and mount flags are in `memory.rs`, `network_flags.rs`
//! and `mount_flags.rs`.

use crate::commands::memory::MemoryArgs;
use crate::commands::mount_flags::MountFlags;
use crate::commands::network_flags::NetworkFlags;
use hull_engine::container::restart::RestartPolicy;

/// The flags that define a container (Docker's names), shared by `hull create` and `hull run`.
#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help (Docker's `-h` is --hostname here too).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Keep STDIN open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Pull image before running ("always", "missing", "never").
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to take the host's value).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines, # comments).
    #[arg(long)]
    pub env_file: Vec<std::path::PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(long, short = 'h')]
    pub hostname: Option<String>,
    /// -m, --memory-swap, --memory-reservation, --oom-kill-disable (`memory.rs`).
    #[command(flatten)]
    pub memory: MemoryArgs,
    /// Number of CPUs (fractions limit CPU time; the VM gets the rounded-up count).
    #[arg(long, value_parser = parse_cpus)]
    pub cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Set meta data on a container (KEY=VALUE or KEY).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Expose a port or a range of ports (`80`, `53/udp`).
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Signal to stop the container (default SIGTERM).
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container (default 10).
    #[arg(long)]
    pub stop_timeout: Option<u32>,
    /// Mount the container's root filesystem as read only.
    #[arg(long)]
    pub read_only: bool,
    /// Boot the guest kernel instead of restoring the warm-start snapshot.
    #[arg(long)]
    pub cold: bool,
    /// Add additional groups to join (gids).
    #[arg(long = "group-add")]
    pub group_add: Vec<u32>,
    /// Ulimit options (`nofile=1024:2048`).
    #[arg(long = "ulimit")]
    pub ulimits: Vec<hull_engine::spec::Ulimit>,
    /// `--restart`, `--init`, `--cap-add`, `--cap-drop`, `--privileged`, `--add-host`.
    #[command(flatten)]
    pub host: HostFlags,
    /// `--network`, `-p`, `--link`, `--dns` and the rest.
    #[command(flatten)]
    pub net: NetworkFlags,
    /// `-v`, `--mount`, `--tmpfs`, `--volumes-from`.
    #[command(flatten)]
    pub storage: MountFlags,
    /// The image (busybox, debian:bookworm and scratch are created on first use).
    pub image: String,
    /// The command and its arguments (everything after IMAGE goes to the container).
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Restart policy, init, capabilities and /etc/hosts flags.
#[derive(Debug, clap::Args)]
pub struct HostFlags {
    /// Restart policy to apply when a container exits: no, on-failure[:max-retries],
    /// always, unless-stopped (its supervisor, `hull shim`, restarts it; see the README).
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub restart: RestartPolicy,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Add Linux capabilities (`NET_ADMIN`, `CAP_SYS_TIME`, `ALL`).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (`CHOWN`, `ALL`).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container (every capability).
    #[arg(long)]
    pub privileged: bool,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
}

/// `--cpus`: a number of CPUs, fractions allowed.
fn parse_cpus(text: &str) -> Result<f64, String> {
    let cpus: f64 = text
        .parse()
        .map_err(|_| format!("invalid --cpus {text:?}"))?;
    if !(0.01..=1024.0).contains(&cpus) {
        return Err("--cpus must be between 0.01 and 1024".into());
    }
    Ok(cpus)
}
