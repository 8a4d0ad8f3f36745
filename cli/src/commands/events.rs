//! `hull events`: container and image events from the store's journal, as Docker's
//! `TIME TYPE ACTION ID (attributes)` lines; past ones with `--since`, streamed until
//! `--until` or forever.

use crate::args::Globals;
use crate::exit::daemon_error;
use crate::template;
use anyhow::Result;
use hull_engine::system::events::{parse_timestamp, EventFilter, EventLog};
use std::time::SystemTime;

/// `hull events` flags.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp (RFC 3339, Unix seconds, or a duration: 10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided (container, event, image, label, type).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Format the output using the given Go template, or `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// Prints events until `--until` (or until interrupted).
pub fn run(args: EventsArgs, globals: &Globals) -> Result<i32> {
    let now = SystemTime::now();
    let since = args
        .since
        .as_deref()
        .map(|t| parse_timestamp(t, now))
        .transpose()
        .map_err(daemon_error)?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_timestamp(t, now))
        .transpose()
        .map_err(daemon_error)?;
    let filter = EventFilter::parse(&args.filters).map_err(daemon_error)?;
    let template = template::parse_document_format(args.format.as_deref())?;
    std::fs::create_dir_all(&globals.root)?;
    let log = EventLog::in_root(&globals.root);
    let mut failure = None;
    log.follow(since, until, &filter, |event| {
        let line = match &template {
            None => Ok(event.to_line()),
            Some(template) => serde_json::to_value(event)
                .map_err(anyhow::Error::from)
                .and_then(|json| template::execute(template, &json)),
        };
        match line {
            Ok(line) => {
                println!("{line}");
                true
            }
            Err(err) => {
                failure = Some(err);
                false
            }
        }
    })?;
    match failure {
        Some(err) => Err(err),
        None => Ok(0),
    }
}
