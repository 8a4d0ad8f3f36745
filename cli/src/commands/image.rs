//! Image verbs on the image store: images, load, save, rmi, tag, history, image prune,
//! image bootstrap (and `hull image ls|rm|inspect|...` aliases).

use crate::args::Globals;
use crate::format;
use crate::progress::TerminalProgress;
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::images::{ImageFilter, Removed};
use std::path::PathBuf;

/// `hull images` flags.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show all images, a build's intermediate ones too.
    #[arg(short, long)]
    pub all: bool,
    /// Output format: `table`, `json` (one object per line) or a Go template
    /// (`{{.Repository}}:{{.Tag}}`, `table {{.ID}}\t{{.Size}}`).
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output (dangling=true|false, reference=GLOB, label=KEY[=VALUE],
    /// before=IMAGE, since=IMAGE).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Show digests (registry digests: `<none>` for images that came from no registry).
    #[arg(long)]
    pub digests: bool,
    /// Only images of this repository (and tag).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

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

/// `hull rmi`.flags.
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Force removal (untags an image still used by containers).
    #[arg(short, long)]
    pub force: bool,
    /// Images to remove.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `hull tag` arguments.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Existing image.
    pub source: String,
    /// New reference.
    pub target: String,
}

/// `hull history` flags.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Show full output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image.
    pub image: String,
}

/// `hull image prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all images not used by a container, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation (hull never prompts).
    #[arg(short, long)]
    pub force: bool,
}

/// `hull image bootstrap` arguments.
#[derive(Debug, clap::Args)]
pub struct BootstrapArgs {
    /// busybox, debian:bookworm or scratch.
    pub name: String,
}

/// `hull image ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Load an image from a tar archive.
    Load(LoadArgs),
    /// Save images to a tar archive.
    Save(SaveArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Tag an image.
    Tag(TagArgs),
    /// Show an image's history.
    History(HistoryArgs),
    /// Display detailed information on images.
    Inspect(super::inspect::InspectArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Create an offline base image (busybox, debian:bookworm, scratch).
    Bootstrap(BootstrapArgs),
    /// Download an image from a registry.
    Pull(super::registry::PullArgs),
    /// Upload an image to a registry.
    Push(super::registry::PushArgs),
}

/// Runs `hull image SUBCOMMAND`.
pub fn dispatch(command: ImageCommand, globals: &Globals) -> Result<i32> {
    match command {
        ImageCommand::Ls(args) => images(args, globals),
        ImageCommand::Load(args) => load(args, globals),
        ImageCommand::Save(args) => save(args, globals),
        ImageCommand::Rm(args) => rmi(args, globals),
        ImageCommand::Tag(args) => tag(args, globals),
        ImageCommand::History(args) => history(args, globals),
        ImageCommand::Inspect(mut args) => {
            args.kind = Some("image".into());
            super::inspect::run(args, globals)
        }
        ImageCommand::Prune(args) => prune(args, globals),
        ImageCommand::Bootstrap(args) => bootstrap(args, globals),
        ImageCommand::Pull(args) => super::registry::pull(args, globals),
        ImageCommand::Push(args) => super::registry::push(args, globals),
    }
}

/// Column titles of `images --format 'table ...'`, by field.
const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
];

/// `hull images`.
pub fn images(args: ImagesArgs, globals: &Globals) -> Result<i32> {
    let output = OutputFormat::parse(args.format.as_deref())?;
    let filter = ImageFilter::parse(&args.filters, args.reference.as_deref())
        .map_err(crate::exit::daemon_error)?;
    let store = super::images(globals)?;
    let rows = store.list_matching(&filter, args.all)?;
    let id = |full: &str| -> String {
        if args.no_trunc {
            full.to_string()
        } else {
            hull_engine::images::short_id(full).to_string()
        }
    };
    if args.quiet {
        let mut seen = Vec::new();
        for row in &rows {
            if !seen.contains(&row.id) {
                println!("{}", id(&row.id));
                seen.push(row.id.clone());
            }
        }
        return Ok(0);
    }
    let created_since = |created: Option<&str>| created.map_or_else(|| "N/A".into(), format::ago);
    let fields: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "Repository": row.repository,
                "Tag": row.tag,
                "ID": id(&row.id),
                "Digest": "<none>",
                "CreatedAt": row.created,
                "CreatedSince": created_since(row.created.as_deref()),
                "Size": format::human_size(row.size),
                "VirtualSize": row.size,
            })
        })
        .collect();
    let default_table = || {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                let mut cells = vec![row.repository.clone(), row.tag.clone()];
                if args.digests {
                    cells.push("<none>".into());
                }
                cells.extend([
                    id(&row.id),
                    created_since(row.created.as_deref()),
                    format::human_size(row.size),
                ]);
                cells
            })
            .collect();
        let mut headers = vec!["REPOSITORY", "TAG"];
        if args.digests {
            headers.push("DIGEST");
        }
        headers.extend(["IMAGE ID", "CREATED", "SIZE"]);
        format::table(&headers, &table)
    };
    print!("{}", output.render(&fields, IMAGE_HEADERS, default_table)?);
    Ok(0)
}

/// `hull load`.
pub fn load(args: LoadArgs, globals: &Globals) -> Result<i32> {
    let store = super::images(globals)?;
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
    let store = super::images(globals)?;
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

/// `Untagged: NAME` and `Deleted: ID` lines, as Docker prints removals.
pub fn print_removed(removed: &[Removed]) {
    for entry in removed {
        match entry {
            Removed::Untagged(name) => println!("Untagged: {name}"),
            Removed::Deleted(id) => println!("Deleted: {id}"),
        }
    }
}

/// `hull rmi`.
pub fn rmi(args: RmiArgs, globals: &Globals) -> Result<i32> {
    let store = super::images(globals)?;
    super::for_each(&args.images, |reference| {
        let removed = store.remove(reference, args.force)?;
        print_removed(&removed);
        Ok(())
    })
}

/// `hull tag`.
pub fn tag(args: TagArgs, globals: &Globals) -> Result<i32> {
    let store = super::images(globals)?;
    store.tag(&args.source, &args.target)?;
    Ok(0)
}

/// `hull history`.
pub fn history(args: HistoryArgs, globals: &Globals) -> Result<i32> {
    let store = super::images(globals)?;
    let entries = store.history(&args.image)?;
    if args.format == "json" {
        for entry in &entries {
            println!("{}", serde_json::to_string(entry)?);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let layer = if entry.layer == "<missing>" || args.no_trunc {
                entry.layer.clone()
            } else {
                hull_engine::images::short_id(&entry.layer).to_string()
            };
            let created_by = if args.no_trunc {
                entry.created_by.clone()
            } else {
                format::truncate(&entry.created_by, 45)
            };
            vec![
                layer,
                entry
                    .created
                    .as_deref()
                    .map(format::ago)
                    .unwrap_or_else(|| "N/A".into()),
                created_by,
                format::human_size(entry.size),
                entry.comment.clone(),
            ]
        })
        .collect();
    if args.quiet {
        for row in &rows {
            println!("{}", row[0]);
        }
        return Ok(0);
    }
    print!(
        "{}",
        format::table(
            &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            &rows
        )
    );
    Ok(0)
}

/// `hull image prune`.
pub fn prune(args: PruneArgs, globals: &Globals) -> Result<i32> {
    let store = super::images(globals)?;
    let report = store.prune(args.all)?;
    if !report.removed.is_empty() {
        println!("Deleted Images:");
        print_removed(&report.removed);
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        format::human_size(report.reclaimed_bytes)
    );
    Ok(0)
}

/// `hull image bootstrap`.
pub fn bootstrap(args: BootstrapArgs, globals: &Globals) -> Result<i32> {
    let store = super::images(globals)?;
    let image = store.bootstrap(&args.name, &TerminalProgress::new())?;
    println!("{}", image.id);
    Ok(0)
}
