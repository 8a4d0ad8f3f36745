//! One module per verb: a clap `Args` struct and a `run` function returning the exit status.

pub mod attach;
pub mod build;
pub mod commit;
pub mod container;
pub mod cp;
pub mod create;
pub mod diff;
pub mod events;
pub mod exec;
pub mod image;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod logs;
pub mod manage;
pub mod memory;
pub mod mount_flags;
pub mod network;
pub mod network_flags;
pub mod pause;
pub mod port;
pub mod ps;
pub mod registry;
pub mod rm;
pub mod run;
pub mod shim;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system;
pub mod top;
pub mod version;
pub mod volume;
pub mod wait;

use crate::args::{Cli, Command, Globals};
use anyhow::Result;
use hull_engine::containers::ShimCommand;
use hull_engine::networks::DaemonCommand;
use hull_engine::{Containers, Images, Networks};

/// Runs the verb; returns the status hull exits with.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let globals = cli.globals;
    match cli.command {
        Command::Run(args) => run::run(args, &globals),
        Command::Create(args) => create::run(args, &globals),
        Command::Start(args) => start::run(args, &globals),
        Command::Exec(args) => exec::run(args, &globals),
        Command::Ps(args) => ps::run(args, &globals),
        Command::Logs(args) => logs::run(args, &globals),
        Command::Stop(args) => stop::run(args, &globals),
        Command::Restart(args) => manage::restart(args, &globals),
        Command::Rename(args) => manage::rename(args, &globals),
        Command::Stats(args) => stats::run(args, &globals),
        Command::Container(command) => match command.into_verb() {
            container::ContainerVerb::TopLevel(command) => dispatch(Cli {
                globals,
                command: *command,
            }),
            container::ContainerVerb::Prune(args) => manage::prune(args, &globals),
        },
        Command::Cp(args) => cp::run(args, &globals),
        Command::Kill(args) => kill::run(args, &globals),
        Command::Rm(args) => rm::run(args, &globals),
        Command::Attach(args) => attach::run(args, &globals),
        Command::Wait(args) => wait::run(args, &globals),
        Command::Inspect(args) => inspect::run(args, &globals),
        Command::Images(args) => image::images(args, &globals),
        Command::Load(args) => image::load(args, &globals),
        Command::Save(args) => image::save(args, &globals),
        Command::Rmi(args) => image::rmi(args, &globals),
        Command::Tag(args) => image::tag(args, &globals),
        Command::History(args) => image::history(args, &globals),
        Command::Pull(args) => registry::pull(args, &globals),
        Command::Push(args) => registry::push(args, &globals),
        Command::Login(args) => registry::login(args, &globals),
        Command::Logout(args) => registry::logout(args, &globals),
        Command::Image(command) => image::dispatch(command, &globals),
        Command::Info(args) => info::run(args, &globals).map(|()| 0),
        Command::Events(args) => events::run(args, &globals),
        Command::System(command) => system::dispatch(command, &globals),
        Command::Port(args) => port::run(args, &globals),
        Command::Diff(args) => diff::run(args, &globals),
        Command::Commit(args) => commit::run(args, &globals),
        Command::Build(args) => build::run(args, &globals),
        Command::Version(args) => version::run(args),
        Command::Shim(args) => shim::run(args, &globals),
        Command::Pause(args) => pause::pause(args, &globals),
        Command::Unpause(args) => pause::unpause(args, &globals),
        Command::Top(args) => top::run(args, &globals),
        Command::Network(command) => network::dispatch(command, &globals),
        Command::NetworkDaemon(args) => network::daemon(args, &globals),
        Command::Volume(command) => volume::dispatch(command, &globals),
    }
}

/// The containers under `--root`; detached ones are supervised by `hull shim ID`.
pub fn containers(globals: &Globals) -> Result<Containers> {
    let (program, args) = hull_invocation(globals, "shim")?;
    let daemon = network_daemon(globals)?;
    Ok(Containers::open(&globals.root)?
        .with_shim(ShimCommand { program, args })
        .with_network_daemon(daemon))
}

/// This hull executable with the global flags and `verb`, for the processes hull starts.
fn hull_invocation(
    globals: &Globals,
    verb: &str,
) -> Result<(std::path::PathBuf, Vec<std::ffi::OsString>)> {
    let program = std::env::current_exe()
        .map_err(|err| anyhow::anyhow!("cannot find the hull executable: {err}"))?;
    let mut args = vec!["--root".into(), globals.root.clone().into_os_string()];
    if globals.debug {
        args.push("--debug".into());
    }
    args.push(verb.into());
    Ok((program, args))
}

/// `hull network-daemon`, which owns a network's namespace.
pub fn network_daemon(globals: &Globals) -> Result<DaemonCommand> {
    let (program, args) = hull_invocation(globals, "network-daemon")?;
    Ok(DaemonCommand { program, args })
}

/// The networks under `--root`; their namespaces are owned by `hull network-daemon ID`.
pub fn networks(globals: &Globals) -> Result<Networks> {
    Ok(Networks::open(&globals.root)?.with_daemon(network_daemon(globals)?))
}

/// The images under `--root`.
pub fn images(globals: &Globals) -> Result<Images> {
    Ok(Images::open(&globals.root)?)
}

/// Runs `each` for every reference, printing errors like Docker's multi-container verbs;
/// the status is 1 if any failed.
pub fn for_each(references: &[String], mut each: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut status = 0;
    for reference in references {
        if let Err(err) = each(reference) {
            eprintln!("Error response from hull: {err:#}");
            status = 1;
        }
    }
    Ok(status)
}
