//! `hull version`: Docker's two-part report (client, then the engine and its components),
//! or `--format` over Docker's `/version` document (`{{.Server.Version}}`, `{{json .}}`).

use crate::template;
use anyhow::Result;
use hull_engine::host::HostFacts;
use hull_engine::system::version::{self, VersionReport};

/// `hull version` flags.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Format the output with a Go template, or `json`.
    #[arg(short, long)]
    pub format: Option<String>,
}

/// Prints the versions.
pub fn run(args: VersionArgs) -> Result<i32> {
    // A bad template fails before any probing.
    let template = template::parse_document_format(args.format.as_deref())?;
    let report = version::report(&HostFacts::detect());
    match template {
        Some(template) => {
            let json = serde_json::to_value(&report)?;
            println!("{}", template::execute(&template, &json)?);
        }
        None => print!("{}", render(&report)),
    }
    Ok(0)
}

/// Docker's layout: ` Key:` padded to one column, components indented under the server.
fn render(report: &VersionReport) -> String {
    let client = &report.client;
    let server = &report.server;
    let mut out = String::from("Client:\n");
    field(&mut out, 1, "Version", &client.version);
    field(&mut out, 1, "API version", &client.api_version);
    field(&mut out, 1, "Rust version", &client.go_version);
    field(
        &mut out,
        1,
        "OS/Arch",
        &format!("{}/{}", client.os, client.arch),
    );
    field(&mut out, 1, "Context", &client.context);
    out.push_str(&format!("\nServer: {}\n", server.platform.name));
    for component in &server.components {
        out.push_str(&format!(" {}:\n", component.name));
        field(&mut out, 2, "Version", &component.version);
        if component.name == "Engine" {
            let api = format!(
                "{} (minimum version {})",
                server.api_version, server.min_api_version
            );
            field(&mut out, 2, "API version", &api);
            field(&mut out, 2, "Rust version", &server.go_version);
            field(
                &mut out,
                2,
                "OS/Arch",
                &format!("{}/{}", server.os, server.arch),
            );
            field(&mut out, 2, "Kernel version", &server.kernel_version);
            field(
                &mut out,
                2,
                "Experimental",
                &server.experimental.to_string(),
            );
        }
    }
    out
}

/// One `Key:   value` line; values start in one column whatever the indent, as Docker's.
fn field(out: &mut String, indent: usize, key: &str, value: &str) {
    let label = format!("{}{key}:", " ".repeat(indent));
    out.push_str(&format!("{label:<19} {value}\n"));
}
