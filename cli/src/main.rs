//! `hull`: Docker's user experience, every container in its own KVM virtual machine.
//!
//! `main` only parses the command line, sets up logging and maps errors to Docker's exit
//! statuses (see [`exit`]); every verb lives in its own file under `commands/`, as parsing,
//! calls into the `hull-engine` library and formatting.

mod args;
mod build_display;
mod commands;
mod detach_keys;
mod env;
mod exit;
mod format;
mod processes;
mod progress;
mod prompt;
mod streams;
mod template;
mod transfers;

use clap::Parser;

fn main() {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // --help and --version are successes; a usage error is hull's own: 125.
            std::process::exit(if err.use_stderr() {
                exit::HULL_ERROR
            } else {
                0
            });
        }
    };
    init_logging(cli.globals.debug);
    end_quietly_on_closed_stdout(&cli.command);
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::exit(code);
}

/// `hull ps | head`: Rust ignores SIGPIPE, so printing into a closed pipe would panic. Verbs
/// that only print get the default disposition back and end quietly, as Docker's do. Verbs
/// that relay a container's streams keep ignoring it: they handle EPIPE and keep draining
/// the guest.
fn end_quietly_on_closed_stdout(command: &args::Command) {
    use args::Command as C;
    if matches!(
        command,
        C::Ps(_)
            | C::Logs(_)
            | C::Inspect(_)
            | C::Wait(_)
            | C::Images(_)
            | C::History(_)
            | C::Image(_)
            | C::Save(_)
            | C::Info(_)
            | C::Version(_)
            | C::Events(_)
            | C::System(_)
            | C::Port(_)
            | C::Diff(_)
            | C::Network(_)
    ) || matches!(command, C::Container(c) if c.only_prints())
    {
        // SAFETY: resetting a signal's disposition to its default has no memory effects;
        // no handler of ours is replaced (hull never installs one for SIGPIPE).
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

/// Logs go to stderr, filtered by HULL_LOG (tracing's env-filter syntax); `--debug` is
/// `HULL_LOG=debug`. Quiet by default: Docker prints nothing of its own on success.
fn init_logging(debug: bool) {
    let default = if debug { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HULL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
