//! `hull inspect`: low-level JSON on containers (Docker's shape) or images; `--format`
//! takes a Go template (`{{.State.Status}} {{.State.ExitCode}}`, `{{json .Config}}`).

use crate::args::Globals;
use crate::template;
use anyhow::Result;
use serde_json::Value;

/// `hull inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format with a Go template like `{{.State.ExitCode}}` (default: JSON array).
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only look for this kind: `container` or `image`.
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Names or ids.
    #[arg(required = true)]
    pub objects: Vec<String>,
}

/// `hull inspect`.
pub fn run(args: InspectArgs, globals: &Globals) -> Result<i32> {
    let template = args.format.as_deref().map(template::parse).transpose()?;
    let containers = super::containers(globals)?;
    let mut found = Vec::new();
    let mut status = 0;
    for reference in &args.objects {
        let as_container = if args.kind.as_deref() == Some("image") {
            None
        } else {
            containers.inspect(reference).ok()
        };
        let value = match as_container {
            Some(value) => Some(value),
            None if args.kind.as_deref() != Some("container") => super::images(globals)
                .ok()
                .and_then(|images| images.inspect(reference).ok()),
            None => None,
        };
        match value {
            Some(value) => found.push(value),
            None => {
                eprintln!("Error: No such object: {reference}");
                status = 1;
            }
        }
    }
    match &template {
        Some(template) => {
            for value in &found {
                println!("{}", template::execute(template, value)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(found))?),
    }
    Ok(status)
}
