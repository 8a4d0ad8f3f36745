//! Docker's exit statuses (see `hull_engine::exit`): hull's own failures exit 125, otherwise
//! the status an error carries. Only `main` ends the process.

use hull_engine::exit::ExitStatus;
pub use hull_engine::exit::{with_code, HULL_ERROR};

/// Docker's CLI exits 1 (not 125) when the daemon refuses a request of a verb other than
/// run/create, such as a bad `--filter`.
pub const DOCKER_DAEMON_ERROR: i32 = 1;

/// `err` as the daemon's refusal: printed as is, exit status 1.
pub fn daemon_error(err: impl std::fmt::Display) -> anyhow::Error {
    with_code(DOCKER_DAEMON_ERROR, err.to_string())
}

/// Prints `err` the way Docker does and returns the status to exit with.
pub fn report(err: &anyhow::Error) -> i32 {
    if let Some(status) = exit_status(err) {
        if let Some(message) = &status.message {
            eprintln!("hull: {message}");
        }
        return status.code;
    }
    eprintln!("hull: {err:#}");
    HULL_ERROR
}

/// The status `err` carries, directly or inside an engine error.
fn exit_status(err: &anyhow::Error) -> Option<&ExitStatus> {
    err.downcast_ref::<ExitStatus>().or_else(|| {
        err.downcast_ref::<hull_engine::Error>()
            .and_then(hull_engine::Error::exit_status)
    })
}
