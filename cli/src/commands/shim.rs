//! `hull shim ID` (hidden): the supervisor of a detached container. It runs in its own
//! session so it outlives the `hull run -d` or `hull start` that spawned it and the
//! terminal that ran them, writes the container log and records the exit status.

use crate::args::Globals;
use anyhow::Result;
use nix::sys::signal::{self, SigHandler, Signal};

/// `hull shim` arguments.
#[derive(Debug, clap::Args)]
pub struct ShimArgs {
    /// A client attaches next: hold the output for it (`run -it`).
    #[arg(long = "for-attach")]
    pub for_attach: bool,
    /// The container's full id.
    pub id: String,
}

/// Supervises container `id` until its VM ends.
pub fn run(args: ShimArgs, globals: &Globals) -> Result<i32> {
    // A new session: no controlling terminal, so no SIGHUP when the user's terminal closes.
    let _ = nix::unistd::setsid();
    // SAFETY: SIG_IGN installs no handler code; it only changes the disposition.
    let _ = unsafe { signal::signal(Signal::SIGHUP, SigHandler::SigIgn) };
    super::containers(globals)?.supervise_detached(&args.id, args.for_attach)?;
    Ok(0)
}
