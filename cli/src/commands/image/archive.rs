//! Images in and out without a registry: `hull load`, `hull save`, `hull image bootstrap`.

use crate::args::Globals;
use crate::progress::TerminalProgress;
use anyhow::Result;
use std::path::PathBuf;

/// `hull load` flags.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Read from a tar archive file (docker save or OCI layout; gzip/zstd/plain).
    #[arg(short, long)]
    pub input: PathBuf,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `hull save` flags.
#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Write to a file instead of stdout (which must not be a terminal).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Images to save.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `hull image bootstrap` arguments.
#[derive(Debug, clap::Args)]
pub struct BootstrapArgs {
    /// busybox, debian:bookworm or scratch.
    pub name: String,
}

/// `hull load`.
pub fn load(args: LoadArgs, globals: &Globals) -> Result<i32> {
    let store = super::super::images(globals)?;
    let progress = TerminalProgress::new();
    let loaded = store.load(&args.input, &progress)?;
    if !args.quiet {
        for image in loaded {
            match image.references.is_empty() {
                true => println!("Loaded image ID: {}", image.id),
                false => {
                    for reference in &image.references {
                        println!("Loaded image: {reference}");
                    }
                }
            }
        }
    }
    Ok(0)
}

/// `hull save`.
pub fn save(args: SaveArgs, globals: &Globals) -> Result<i32> {
    let store = super::super::images(globals)?;
    let references: Vec<&str> = args.images.iter().map(String::as_str).collect();
    match &args.output {
        Some(path) => store.save(&references, path)?,
        None => {
            let stdout = std::io::stdout();
            if std::io::IsTerminal::is_terminal(&stdout) {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            store.save_to_writer(&references, &mut out)?;
            std::io::Write::flush(&mut out)?;
        }
    }
    Ok(0)
}

/// `hull image bootstrap`.
pub fn bootstrap(args: BootstrapArgs, globals: &Globals) -> Result<i32> {
    let store = super::super::images(globals)?;
    let image = store.bootstrap(&args.name, &TerminalProgress::new())?;
    println!("{}", image.id);
    Ok(0)
}
