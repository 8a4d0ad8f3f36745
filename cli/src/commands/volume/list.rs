//! `hull volume ls` and `hull volume inspect`.

use crate::args::Globals;
use crate::exit::daemon_error;
use crate::format;
use crate::template::{self, OutputFormat};
use anyhow::Result;
use hull_engine::volumes::VolumeFilter;

/// `volume ls` flags.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only display volume names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output: `table`, `json` or a Go template (`{{.Name}}`, `{{.Driver}}`,
    /// `{{.Scope}}`, `{{.Mountpoint}}`, `{{.Labels}}`).
    #[arg(long)]
    pub format: Option<String>,
    /// Provide filter values (`dangling=true`, `name=data`, `label=KEY[=VALUE]`,
    /// `driver=local`).
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
}

/// `volume inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format the output using a Go template, or `json`.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Volume names.
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `volume ls`.
pub(super) fn ls(args: LsArgs, globals: &Globals) -> Result<i32> {
    let output = OutputFormat::parse(args.format.as_deref())?;
    let filter = VolumeFilter::parse(&args.filters).map_err(daemon_error)?;
    let volumes = super::volumes(globals)?.list(&filter)?;
    if args.quiet {
        for volume in &volumes {
            println!("{}", volume.name);
        }
        return Ok(0);
    }
    let fields: Vec<serde_json::Value> = volumes
        .iter()
        .map(|volume| {
            serde_json::json!({
                "Name": volume.name,
                "Driver": volume.driver,
                "Scope": volume.scope,
                "Mountpoint": volume.mountpoint,
                "Labels": volume
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                "Links": "N/A",
                "Size": "N/A",
            })
        })
        .collect();
    let default_table = || {
        let rows: Vec<Vec<String>> = volumes
            .iter()
            .map(|volume| vec![volume.driver.clone(), volume.name.clone()])
            .collect();
        format::table(&["DRIVER", "VOLUME NAME"], &rows)
    };
    print!("{}", output.render(&fields, HEADERS, default_table)?);
    Ok(0)
}

/// `volume inspect`: a JSON array of the volumes found (Docker's), status 1 if any is
/// unknown.
pub(super) fn inspect(args: InspectArgs, globals: &Globals) -> Result<i32> {
    template::parse_document_format(args.format.as_deref())?;
    let volumes = super::volumes(globals)?;
    let mut found = Vec::new();
    let mut status = 0;
    for name in &args.volumes {
        match volumes.get(name) {
            Ok(volume) => found.push(volume),
            Err(err) => {
                eprintln!("Error response from hull: {err}");
                status = 1;
            }
        }
    }
    template::print_documents(args.format.as_deref(), &found)?;
    Ok(status)
}

/// Column titles of `volume ls --format 'table ...'`, by field.
const HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
];
