//! `hull images` (`hull image ls`): the store's images, a row per reference.

use crate::args::Globals;
use crate::format;
use crate::template::OutputFormat;
use anyhow::Result;
use hull_engine::images::ImageFilter;

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
    let store = super::super::images(globals)?;
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
        let mut columns = vec![("Repository", "REPOSITORY"), ("Tag", "TAG")];
        if args.digests {
            columns.push(("Digest", "DIGEST"));
        }
        columns.extend([
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("Size", "SIZE"),
        ]);
        format::fields_table(&columns, &fields)
    };
    print!("{}", output.render(&fields, IMAGE_HEADERS, default_table)?);
    Ok(0)
}
