//! `hull run`: create a container from an image and boot it, in the foreground (its exit
//! status becomes hull's) or detached (`-d`, supervised by a `hull shim` process). The
//! flags of the "create" half ([`CreateArgs`]) are also `hull create`'s.

use crate::args::Globals;
use crate::detach_keys;
use crate::progress::TerminalProgress;
use anyhow::{bail, Result};
use hull_engine::container::restart::RestartPolicy;
use hull_engine::container::ContainerConfig;
use hull_engine::containers::CreateRequest;
use hull_engine::supervisor::{terminal, Io};

/// `hull run` flags (Docker's names): `hull create`'s and `-d`.
#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container (with -it).
    #[arg(long, value_name = "KEYS", default_value = detach_keys::DEFAULT)]
    pub detach_keys: String,
    /// What to create.
    #[command(flatten)]
    pub create: CreateArgs,
}

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
    pub memory: super::memory::MemoryArgs,
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
    pub net: super::network_flags::NetworkFlags,
    /// `-v`, `--mount`, `--tmpfs`, `--volumes-from`.
    #[command(flatten)]
    pub storage: super::mount_flags::MountFlags,
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

/// Parses Docker's sizes: a number with an optional b/k/m/g suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b');
    let (digits, unit) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        _ => (trimmed, 1),
    };
    let value: u64 = digits.parse().map_err(|_| {
        format!("invalid size {text:?}: use a number with an optional k, m or g suffix")
    })?;
    let bytes = value.checked_mul(unit).ok_or("size too large")?;
    if bytes < 6 << 20 {
        return Err("minimum memory limit allowed is 6MB".into());
    }
    Ok(bytes)
}

fn parse_cpus(text: &str) -> Result<f64, String> {
    let cpus: f64 = text
        .parse()
        .map_err(|_| format!("invalid --cpus {text:?}"))?;
    if !(0.01..=1024.0).contains(&cpus) {
        return Err("--cpus must be between 0.01 and 1024".into());
    }
    Ok(cpus)
}

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
                labels: self
                    .labels
                    .iter()
                    .map(|label| match label.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (label.clone(), String::new()),
                    })
                    .collect(),
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

/// `hull run`.
pub fn run(args: RunArgs, globals: &Globals) -> Result<i32> {
    use std::io::IsTerminal;
    let RunArgs {
        detach,
        detach_keys,
        create: args,
    } = args;
    let detach_keys = detach_keys::parse(&detach_keys)?;
    if args.tty && args.interactive && !detach && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY: drop -t, or run hull from a terminal");
    }
    let containers = super::containers(globals)?;
    let container = containers.create(&args.request(globals)?, &TerminalProgress::new())?;
    if detach {
        containers.start_detached(&container)?;
        println!("{}", container.id);
        return Ok(0);
    }
    if (args.tty && args.interactive) || !args.host.restart.is_none() {
        // Supervised by a shim, this process its first attached client: the detach keys can
        // then leave the container running, as Docker's do, and the shim restarts it by its
        // policy after this client has its first exit status.
        let session = containers.start_and_attach(&container)?;
        return super::attach::follow(&containers, session, &detach_keys);
    }
    let done = containers.supervise(
        &container,
        Io::Terminal {
            stdin: args.interactive,
        },
    );
    containers.remove_if_auto(&container);
    // A start error (126 "cannot execute", 127 "not found", ...) was already printed by the
    // guest on the container's stderr, as Docker prints it.
    Ok(done?.state.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("128MB"), Ok(128 << 20));
        assert!(parse_size("1k").is_err());
        assert!(parse_size("lots").is_err());
    }
}
