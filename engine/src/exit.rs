//! Docker's exit statuses: hull's own failures exit 125, a command that cannot be executed
//! 126, a command that is not found 127, otherwise the container's own status. The guest
//! decides 126/127 (and prints why on the container's stderr); hull only adds its own 125.

use std::fmt;

/// hull itself failed (bad flag, missing image, VM would not boot).
pub const HULL_ERROR: i32 = 125;

/// An error that carries the exit status hull must end with; anything else is a 125.
#[derive(Debug)]
pub struct ExitStatus {
    /// The status.
    pub code: i32,
    /// What to print on stderr before exiting (nothing when the container already spoke).
    pub message: Option<String>,
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => f.write_str(message),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for ExitStatus {}

/// An error ending hull with `code` after printing `message`.
pub fn with_code(code: i32, message: impl Into<String>) -> anyhow::Error {
    ExitStatus {
        code,
        message: Some(message.into()),
    }
    .into()
}
