//! `hull logs`: the container's output from its log, stdout and stderr kept apart.

use crate::args::Globals;
use anyhow::Result;
use hull_engine::containers::{LogStream, LogsRequest};
use std::io::Write;

/// `hull logs` flags.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow log output until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container.
    pub container: String,
}

/// `hull logs`.
pub fn run(args: LogsArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let request = LogsRequest {
        follow: args.follow,
        tail,
        timestamps: args.timestamps,
    };
    containers.logs(&args.container, request, &mut emit)?;
    Ok(0)
}

/// Prints one piece of the log; false once stdout is gone (`hull logs -f | head`).
fn emit(stream: LogStream, text: &str) -> bool {
    let mut out: Box<dyn Write> = match stream {
        LogStream::Stderr => Box::new(std::io::stderr().lock()),
        LogStream::Stdout => Box::new(std::io::stdout().lock()),
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}
