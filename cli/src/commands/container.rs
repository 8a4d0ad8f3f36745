//! `hull container VERB`: Docker's management-command spelling of every container verb
//! (`container ls`, `container rm`, ...), each the same as the top-level verb.

use super::{attach, cp, create, exec, inspect, kill, logs, manage, pause, port, ps, rm, run};
use super::{start, stats, stop, top, wait};
use crate::args::Command;

/// `hull container SUBCOMMAND`.
#[derive(Debug, clap::Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    #[command(visible_aliases = ["ps", "list"])]
    Ls(ps::PsArgs),
    /// Create and run a new container from an image.
    Run(run::RunArgs),
    /// Create a new container.
    Create(create::CreateArgs),
    /// Start one or more stopped containers.
    Start(start::StartArgs),
    /// Stop one or more running containers.
    Stop(stop::StopArgs),
    /// Restart one or more containers.
    Restart(manage::RestartArgs),
    /// Rename a container.
    Rename(manage::RenameArgs),
    /// Kill one or more running containers.
    Kill(kill::KillArgs),
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Remove all stopped containers.
    Prune(manage::PruneArgs),
    /// Attach to a running container.
    Attach(attach::AttachArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// Fetch the logs of a container.
    Logs(logs::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(wait::WaitArgs),
    /// Display detailed information on one or more containers.
    Inspect(inspect::InspectArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::StatsArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::CpArgs),
    /// List port mappings or a specific mapping for the container.
    Port(port::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(super::diff::DiffArgs),
    /// Create a new image from a container's changes.
    Commit(super::commit::CommitArgs),
    /// Display the running processes of a container.
    Top(top::TopArgs),
    /// Pause all processes within one or more containers.
    Pause(pause::PauseArgs),
    /// Unpause all processes within one or more containers.
    Unpause(pause::PauseArgs),
}

/// What a `container` subcommand runs.
pub enum ContainerVerb {
    /// The top-level verb of the same name (`container ls` is `ps`).
    TopLevel(Box<Command>),
    /// `container prune`, which has no top-level spelling.
    Prune(manage::PruneArgs),
}

impl ContainerCommand {
    /// Verbs that only print (a closed stdout ends them quietly, as the top-level ones).
    pub fn only_prints(&self) -> bool {
        matches!(
            self,
            Self::Ls(_)
                | Self::Logs(_)
                | Self::Inspect(_)
                | Self::Wait(_)
                | Self::Port(_)
                | Self::Diff(_)
        )
    }

    /// The verb this spelling stands for.
    pub fn into_verb(self) -> ContainerVerb {
        let command = match self {
            Self::Ls(args) => Command::Ps(args),
            Self::Run(args) => Command::Run(args),
            Self::Create(args) => Command::Create(args),
            Self::Start(args) => Command::Start(args),
            Self::Stop(args) => Command::Stop(args),
            Self::Restart(args) => Command::Restart(args),
            Self::Rename(args) => Command::Rename(args),
            Self::Kill(args) => Command::Kill(args),
            Self::Rm(args) => Command::Rm(args),
            Self::Prune(args) => return ContainerVerb::Prune(args),
            Self::Attach(args) => Command::Attach(args),
            Self::Exec(args) => Command::Exec(args),
            Self::Logs(args) => Command::Logs(args),
            Self::Wait(args) => Command::Wait(args),
            Self::Inspect(mut args) => {
                args.kind = Some("container".into());
                Command::Inspect(args)
            }
            Self::Stats(args) => Command::Stats(args),
            Self::Cp(args) => Command::Cp(args),
            Self::Port(args) => Command::Port(args),
            Self::Diff(args) => Command::Diff(args),
            Self::Commit(args) => Command::Commit(args),
            Self::Top(args) => Command::Top(args),
            Self::Pause(args) => Command::Pause(args),
            Self::Unpause(args) => Command::Unpause(args),
        };
        ContainerVerb::TopLevel(Box::new(command))
    }
}
