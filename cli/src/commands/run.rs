//! `hull run`: create a container from an image and boot it, in the foreground (its exit
//! status becomes hull's) or detached (`-d`, supervised by a `hull shim` process). The
//! "create" half ([`CreateArgs`], [`create`]) is also `hull create`; the "boot" half is
//! `hull start`'s.

use crate::args::Globals;
use crate::container::{ids, Container, ContainerStore, RunOptions, Status};
use crate::exit;
use crate::images;
use crate::spec::{self, ProcessFlags};
use crate::supervisor::{self, Io};
use crate::{container::store::write_atomic, users};
use anyhow::{bail, Context, Result};
use hull_protocol::{LayerDisk, RunSpec, WritableDisk, PROTOCOL_VERSION, WRITABLE_DISK_SERIAL};
use std::time::{Duration, Instant};

/// Size of a new writable layer (sparse).
const WRITABLE_DISK_BYTES: u64 = 1 << 30;

/// `hull run` flags (Docker's names): `hull create`'s and `-d`.
#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    pub detach: bool,
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
    /// The image (busybox, debian:bookworm and scratch are created on first use).
    pub image: String,
    /// The command and its arguments (everything after IMAGE goes to the container).
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
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

/// Reads an env file: KEY=VALUE lines; a bare KEY takes the host's value; # comments.
pub fn read_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(expand_env)
        .collect())
}

/// `KEY=VALUE` stays; a bare `KEY` becomes the host's `KEY=value` or is dropped if unset.
pub fn expand_env(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry)
        .ok()
        .map(|value| format!("{entry}={value}"))
}

/// Creates the container: state, run spec, writable disk (Docker's "Created": nothing boots
/// yet). Shared by `run` and `create`.
pub fn create(args: &CreateArgs, globals: &Globals, store: &ContainerStore) -> Result<Container> {
    let image_store = images::open(globals)?;
    let image = images::resolve_or_bootstrap(&image_store, &args.image)?;
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_env_file(file)?);
    }
    env.extend(args.env.iter().filter_map(|e| expand_env(e)));
    args.memory.validate()?;
    let memory_bytes = args.memory.limit_bytes()?;
    let flags = ProcessFlags {
        entrypoint: args.entrypoint.clone(),
        cmd: args.command.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
        interactive: args.interactive,
        memory_bytes,
        memory_reservation: args
            .memory
            .memory_reservation
            .and_then(|r| i64::try_from(r).ok()),
        cpus: args.cpus,
        pids_limit: args.pids_limit,
    };
    let image_config = images::runtime_config(&image);
    let user_spec = args
        .user
        .clone()
        .or_else(|| image_config.user().clone())
        .filter(|u| !u.is_empty());
    let user = resolve_user(&image_store, &image, user_spec.as_deref())?;
    let id = ids::new_id()?;
    let console = if args.tty {
        crate::supervisor::terminal::size()
    } else {
        None
    };
    let runtime = spec::runtime_spec(&image_config, &flags, &id, &user, console)?;
    let argv = runtime
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    let layers = images::layers(&image);
    let run_spec = RunSpec {
        version: PROTOCOL_VERSION,
        container_id: id.clone(),
        layers: layers
            .iter()
            .enumerate()
            .map(|(index, layer)| LayerDisk {
                serial: hull_protocol::layer_disk_serial(index),
                fstype: layer.fstype.clone(),
                diff_id: layer.diff_id.clone(),
            })
            .collect(),
        writable: Some(WritableDisk {
            serial: WRITABLE_DISK_SERIAL.into(),
            fstype: "ext4".into(),
            ephemeral: args.rm,
        }),
        config: runtime,
    };
    let mem_mib = super::memory::vm_mem_mib(args.memory.limit);
    // Whole vCPUs for the VM; the fraction is enforced by the cgroup quota in the guest.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let cpus = args.cpus.map_or(1, |c| c.ceil().max(1.0) as u32);
    let options = RunOptions {
        tty: args.tty,
        interactive: args.interactive,
        auto_remove: args.rm,
        mem_mib,
        memory_limit: args.memory.limit.unwrap_or(0),
        memory_swap: args.memory.reported_swap(),
        cpus,
        engine: super::engine(globals),
    };
    let container = Container::new(
        id,
        String::new(),
        args.image.clone(),
        images::image_id(&image),
        argv,
        options,
        layers.iter().map(|l| l.path.clone()).collect(),
    );
    let container = store.create(container, args.name.as_deref())?;
    let paths = store.paths(&container.id);
    let prepared = (|| -> Result<()> {
        write_atomic(&paths.run_spec(), &serde_json::to_vec(&run_spec)?)?;
        images::create_writable_disk(&image_store, &paths.rw_disk(), WRITABLE_DISK_BYTES)?;
        Ok(())
    })();
    if let Err(err) = prepared {
        let _ = store.remove(&container.id);
        return Err(err);
    }
    Ok(container)
}

fn resolve_user(
    image_store: &images::Store,
    image: &images::Image,
    user: Option<&str>,
) -> Result<users::ResolvedUser> {
    let needs_names = user.is_some_and(|u| {
        u.split(':')
            .any(|part| !part.is_empty() && part.parse::<u32>().is_err())
    });
    // Reading the image's files costs an extraction: only names need them.
    let (passwd, group) = if needs_names {
        let mut files = images::read_files(image_store, image, &["/etc/passwd", "/etc/group"]);
        let group = files.pop().flatten();
        (files.pop().flatten(), group)
    } else {
        (None, None)
    };
    let mut resolved = users::resolve(user, passwd.as_deref(), group.as_deref())?;
    if resolved.uid == 0 && passwd.is_none() {
        // Docker's HOME for root when /etc/passwd is not consulted.
        resolved.home = "/root".into();
    }
    Ok(resolved)
}

/// `hull run`.
pub fn run(args: RunArgs, globals: &Globals) -> Result<i32> {
    use std::io::IsTerminal;
    let RunArgs {
        detach,
        create: args,
    } = args;
    if args.tty && args.interactive && !detach && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY: drop -t, or run hull from a terminal");
    }
    let store = super::containers(globals)?;
    let container = create(&args, globals, &store)?;
    if detach {
        start_detached(globals, &store, &container)?;
        println!("{}", container.id);
        return Ok(0);
    }
    let done = supervisor::run(
        &store,
        &container,
        Io::Terminal {
            stdin: args.interactive,
        },
    );
    if args.rm {
        let _ = store.remove(&container.id);
    }
    exit_with(done?)
}

/// The status hull ends with after a foreground container ended: the container's. A start
/// error (126 "cannot execute", 127 "not found", ...) was already printed by the guest on
/// the container's stderr, as Docker prints it.
pub fn exit_with(done: Container) -> Result<i32> {
    Ok(done.state.exit_code)
}

/// Starts `hull shim ID` in its own session and waits until the VM runs (or failed).
pub fn start_detached(
    globals: &Globals,
    store: &ContainerStore,
    container: &Container,
) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the hull executable")?;
    let paths = store.paths(&container.id);
    let shim_log = std::fs::File::create(paths.dir.join("shim.log"))?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("--root")
        .arg(&globals.root)
        .arg("shim")
        .arg(&container.id)
        .stdin(std::process::Stdio::null())
        .stdout(shim_log.try_clone()?)
        .stderr(shim_log);
    if globals.debug {
        command.arg("--debug");
    }
    store.update(&container.id, |c| c.state.finished_at = None)?;
    let mut shim = command
        .spawn()
        .context("cannot start the container's supervisor (hull shim)")?;
    // The shim marks the container running once the VM's consoles are connected.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let now = store.load(&container.id)?;
        if now.state.status == Status::Running {
            return Ok(());
        }
        if now.state.finished_at.is_some() {
            if now.state.exit_code == exit::HULL_ERROR {
                bail!(
                    "{}",
                    now.state
                        .error
                        .unwrap_or_else(|| "the container failed to start".into())
                );
            }
            return Ok(());
        }
        if shim.try_wait()?.is_some() {
            bail!(
                "the container's supervisor died before the VM started: {}",
                crate::engine::log_tail(&paths.dir.join("shim.log"), 2000)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the container did not start within 10 minutes; see {}",
                paths.dir.join("shim.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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

    #[test]
    fn env_files_skip_comments_and_blank_lines() {
        let path = std::env::temp_dir().join(format!("hull-env-{}", std::process::id()));
        std::fs::write(
            &path,
            "# comment\nA=1\n\n  B=two words \nHULL_SURELY_UNSET_VARIABLE\n",
        )
        .unwrap();
        assert_eq!(read_env_file(&path).unwrap(), ["A=1", "B=two words"]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn bare_env_keys_take_the_hosts_value_or_vanish() {
        assert_eq!(expand_env("A=1").as_deref(), Some("A=1"));
        assert!(expand_env("HULL_SURELY_UNSET_VARIABLE").is_none());
        assert!(expand_env("PATH").unwrap().starts_with("PATH="));
    }
}
