//! `hull kill`: send a signal (default SIGKILL) to the container's process.

use crate::args::Globals;
use anyhow::{bail, Result};
use nix::sys::signal::Signal;
use std::str::FromStr;

/// `hull kill` flags.
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send (name like TERM or SIGTERM, or number).
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers to kill.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Parses "9", "KILL" or "SIGKILL".
pub fn parse_signal(text: &str) -> Result<i32> {
    if let Ok(number) = text.parse::<i32>() {
        if Signal::try_from(number).is_ok() {
            return Ok(number);
        }
        bail!("invalid signal {text}");
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    match Signal::from_str(&name) {
        Ok(signal) => Ok(signal as i32),
        Err(_) => bail!("invalid signal {text}: use a name like TERM or a number"),
    }
}

/// `hull kill`.
pub fn run(args: KillArgs, globals: &Globals) -> Result<i32> {
    let containers = super::containers(globals)?;
    let signal = parse_signal(&args.signal)?;
    super::for_each(&args.containers, |reference| {
        containers.kill(reference, signal)?;
        println!("{reference}");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
