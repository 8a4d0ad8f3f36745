//! `hull pull`, `push`, `login`, `logout`: parse, call the engine, print as Docker does.

use anyhow::Result;
use hull_engine::images::Credential;

use crate::args::Globals;
use crate::exit::daemon_error;
use crate::progress::TerminalProgress;
use crate::prompt::{prompt, prompt_hidden, read_line};
use crate::transfers::{Direction, TransferDisplay};

/// `hull pull` flags.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output: print only the image's name.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image: NAME[:TAG|@DIGEST].
    pub image: String,
}

/// `hull push` flags.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image: NAME[:TAG].
    pub image: String,
}

/// `hull login` flags.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible in the process list: prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry (default: Docker Hub).
    pub server: Option<String>,
}

/// `hull logout` flags.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub).
    pub server: Option<String>,
}

/// `hull pull`.
pub fn pull(args: PullArgs, globals: &Globals) -> Result<i32> {
    let images = super::images(globals)?;
    let display = TransferDisplay::new(Direction::Pull, true, args.quiet);
    let has_tag_or_digest = args.image.contains('@')
        || args
            .image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'));
    if !has_tag_or_digest {
        display.line("Using default tag: latest");
    }
    let progress = TerminalProgress::with_transfers(display);
    let pulled = images.pull(&args.image, args.platform.as_deref(), None, &progress);
    progress.finish_transfers();
    println!("{}", pulled.map_err(daemon_error)?.name);
    Ok(0)
}

/// `hull push`.
pub fn push(args: PushArgs, globals: &Globals) -> Result<i32> {
    let images = super::images(globals)?;
    let progress =
        TerminalProgress::with_transfers(TransferDisplay::new(Direction::Push, true, args.quiet));
    let pushed = images.push(&args.image, None, &progress);
    progress.finish_transfers();
    pushed.map_err(daemon_error)?;
    Ok(0)
}

/// `hull login`.
pub fn login(args: LoginArgs, globals: &Globals) -> Result<i32> {
    if args.password_stdin && args.password.is_some() {
        anyhow::bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match args.username {
        Some(username) => username,
        None if args.password_stdin => {
            anyhow::bail!("Must provide --username with --password-stdin")
        }
        None => prompt("Username: ")?,
    };
    let password = match args.password {
        Some(password) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            password
        }
        None if args.password_stdin => read_line(&mut std::io::stdin().lock())?,
        None => prompt_hidden("Password: ")?,
    };
    if username.is_empty() || password.is_empty() {
        anyhow::bail!("Error: Username and password are required: hull login -u USER --password-stdin REGISTRY");
    }
    let images = super::images(globals)?;
    let file = images
        .login(args.server.as_deref(), Credential { username, password })
        .map_err(daemon_error)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {} (mode 0600).",
        file.display()
    );
    println!("Login Succeeded");
    Ok(0)
}

/// `hull logout`.
pub fn logout(args: LogoutArgs, globals: &Globals) -> Result<i32> {
    let images = super::images(globals)?;
    let server = args.server.as_deref().unwrap_or("docker.io");
    if images.logout(args.server.as_deref())? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}
