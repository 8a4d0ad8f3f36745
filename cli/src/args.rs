//! The command line: global flags and one subcommand per Docker verb.

use crate::commands;
use clap::{Args, Parser, Subcommand};
use hull_engine::host::EngineKind;
use std::path::PathBuf;

/// Docker's user experience; every container boots in its own tiny KVM virtual machine.
#[derive(Debug, Parser)]
#[command(name = "hull", version, propagate_version = true)]
#[command(after_help = "Run 'hull COMMAND --help' for more information on a command.")]
pub struct Cli {
    /// Flags every verb accepts.
    #[command(flatten)]
    pub globals: Globals,
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every verb.
#[derive(Debug, Clone, Args)]
pub struct Globals {
    /// Where images and containers are stored.
    #[arg(
        long,
        global = true,
        env = "HULL_ROOT",
        default_value = "/var/lib/hull"
    )]
    pub root: PathBuf,
    /// VM engine: `hull` (hull-vmm) or `qemu`; default: see `hull info`.
    #[arg(long, global = true, env = "HULL_VMM", value_parser = engine_kind())]
    pub vmm: Option<EngineKind>,
    /// Print debug logs on stderr (or set HULL_LOG=debug).
    #[arg(long, global = true)]
    pub debug: bool,
}

/// `--vmm`'s values, listed in `--help` and in the error for a wrong one.
fn engine_kind() -> impl clap::builder::TypedValueParser<Value = EngineKind> {
    use clap::builder::{PossibleValue, TypedValueParser};
    clap::builder::PossibleValuesParser::new([
        PossibleValue::new(EngineKind::Hull.name()).help("hull-vmm, our own VMM (needs /dev/kvm)"),
        PossibleValue::new(EngineKind::Qemu.name())
            .help("qemu-system-x86_64 -M microvm (KVM when hardware-accelerated, TCG otherwise)"),
    ])
    .map(|name| name.parse::<EngineKind>().expect("a listed engine name"))
}

/// A `--label` value as Docker reads it: `KEY=VALUE`, or a bare `KEY` with an empty value.
pub fn label(text: &str) -> (String, String) {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    (key.to_string(), value.to_string())
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image.
    Run(commands::run::RunArgs),
    /// Create a new container from an image without starting it (`hull start` boots it).
    Create(commands::create::CreateArgs),
    /// Start one or more created or stopped containers (their writable layer intact).
    Start(commands::start::StartArgs),
    /// Execute a command in a running container.
    Exec(commands::exec::ExecArgs),
    /// List containers.
    Ps(commands::ps::PsArgs),
    /// Fetch the logs of a container.
    Logs(commands::logs::LogsArgs),
    /// Stop one or more running containers (SIGTERM, then SIGKILL after a grace period).
    Stop(commands::stop::StopArgs),
    /// Restart one or more containers (stop, then start with the writable layer intact).
    Restart(commands::manage::RestartArgs),
    /// Rename a container.
    Rename(commands::manage::RenameArgs),
    /// Display containers' resource usage (CPU, memory as their cgroup counts it, pids).
    Stats(commands::stats::StatsArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(commands::container::ContainerCommand),
    /// Copy files/folders between a container and the local filesystem.
    Cp(commands::cp::CpArgs),
    /// Send a signal to one or more running containers.
    Kill(commands::kill::KillArgs),
    /// Remove one or more containers.
    Rm(commands::rm::RmArgs),
    /// Attach to a running container's output (and input with -i).
    Attach(commands::attach::AttachArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(commands::wait::WaitArgs),
    /// Return low-level information on containers or images (JSON).
    Inspect(commands::inspect::InspectArgs),
    /// List images.
    Images(commands::image::ImagesArgs),
    /// Load an image from a tar archive (docker save or OCI layout).
    Load(commands::image::LoadArgs),
    /// Save one or more images to a tar archive.
    Save(commands::image::SaveArgs),
    /// Remove one or more images.
    Rmi(commands::image::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(commands::image::TagArgs),
    /// Show the history of an image.
    History(commands::image::HistoryArgs),
    /// Download an image from a registry.
    Pull(commands::registry::PullArgs),
    /// Upload an image to a registry.
    Push(commands::registry::PushArgs),
    /// Log in to a registry.
    Login(commands::registry::LoginArgs),
    /// Log out from a registry.
    Logout(commands::registry::LogoutArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Display system-wide information: host KVM, chosen engine and why.
    Info(commands::info::InfoArgs),
    /// Get real time events from hull (container and image changes).
    Events(commands::events::EventsArgs),
    /// Manage hull: disk usage, events, information.
    #[command(subcommand)]
    System(commands::system::SystemCommand),
    /// List port mappings or a specific mapping for the container.
    Port(commands::port::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(commands::diff::DiffArgs),
    /// Create a new image from a container's changes.
    Commit(commands::commit::CommitArgs),
    /// Build an image from a Dockerfile.
    Build(commands::build::BuildArgs),
    /// Show the hull version information.
    Version(commands::version::VersionArgs),
    /// Supervise one container's VM (started detached by `run -d` and `start`).
    #[command(hide = true)]
    Shim(commands::shim::ShimArgs),
    /// Pause all processes within one or more containers (their VMs' vCPUs stop).
    Pause(commands::pause::PauseArgs),
    /// Unpause all processes within one or more containers.
    Unpause(commands::pause::PauseArgs),
    /// Display the running processes of a container.
    Top(commands::top::TopArgs),
    /// Manage networks.
    #[command(subcommand)]
    Network(commands::network::NetworkCommand),
    /// Own one network's namespace (started by the first container that joins it).
    #[command(hide = true)]
    NetworkDaemon(commands::network::DaemonArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_bare_label_key_has_an_empty_value() {
        assert_eq!(label("tier=db=1"), ("tier".into(), "db=1".into()));
        assert_eq!(label("tier"), ("tier".into(), String::new()));
    }

    #[test]
    fn run_stops_parsing_flags_at_the_image() {
        let cli = Cli::try_parse_from(["hull", "run", "--rm", "-h", "box", "busybox", "ls", "-l"])
            .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.create.image, "busybox");
        assert_eq!(run.create.command, ["ls", "-l"]);
        assert_eq!(run.create.hostname.as_deref(), Some("box"));
        let cli = Cli::try_parse_from(["hull", "run", "busybox", "-c", "x", "--rm", "-d"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.create.command, ["-c", "x", "--rm", "-d"]);
        assert!(
            !run.create.rm && !run.detach,
            "flags after the image belong to the container"
        );
    }

    #[test]
    fn create_takes_runs_flags_but_not_detach() {
        let cli = Cli::try_parse_from(["hull", "create", "-it", "--rm", "--name", "c", "busybox"])
            .unwrap();
        let Command::Create(create) = cli.command else {
            panic!("not create")
        };
        assert!(create.interactive && create.tty && create.rm);
        assert_eq!(create.name.as_deref(), Some("c"));
        assert!(Cli::try_parse_from(["hull", "create", "-d", "busybox"]).is_err());
    }

    #[test]
    fn exec_stops_parsing_flags_at_the_command() {
        let cli = Cli::try_parse_from([
            "hull", "exec", "-i", "-e", "A=1", "-w", "/tmp", "-u", "1000", "web", "ls", "-l", "-u",
        ])
        .unwrap();
        let Command::Exec(exec) = cli.command else {
            panic!("not exec")
        };
        assert!(exec.interactive && !exec.tty && !exec.detach);
        assert_eq!(exec.env, ["A=1"]);
        assert_eq!(exec.workdir.as_deref(), Some("/tmp"));
        assert_eq!(exec.user.as_deref(), Some("1000"));
        assert_eq!(exec.container, "web");
        assert_eq!(exec.command, ["ls", "-l", "-u"]);
        assert!(
            Cli::try_parse_from(["hull", "exec", "web"]).is_err(),
            "needs a command"
        );
    }
}
