//! Progress reporting for long work (load, conversion, bootstrap), decoupled from any terminal
//! library: the CLI implements [`Progress`] for its indicatif bar in a few lines.

use std::io::{self, Read};

/// Receives progress of long operations. All methods default to doing nothing; `&()` is a
/// valid silent reporter.
pub trait Progress {
    /// A new task starts; `total` is its size in bytes when known.
    fn start(&self, _task: &str, _total: Option<u64>) {}
    /// `bytes` more bytes of the current task are done.
    fn advance(&self, _bytes: u64) {}
    /// A line of status (debootstrap output, "converting layer ...").
    fn message(&self, _message: &str) {}
    /// The current task is done.
    fn finish(&self) {}
}

impl Progress for () {}

/// Reports bytes read through it to a [`Progress`].
pub(crate) struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R: Read> ProgressReader<'a, R> {
    pub(crate) fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Self { inner, progress }
    }
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
