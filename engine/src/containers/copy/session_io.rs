//! An archive session as plain streams: its stdout as a [`Read`], its stdin as a
//! [`Write`].

use crate::containers::{Session, SessionEvent, SessionInput};
use std::io::{self, Read, Write};

/// Most stderr bytes of a session kept for the error message.
const MAX_ERROR_TEXT: usize = 16 * 1024;

/// A session's stdout as a [`Read`]: the rest of its events (stderr, the status) are kept.
pub(super) struct SessionOutput {
    session: Session,
    chunk: Vec<u8>,
    offset: usize,
    errors: Vec<u8>,
    /// The status, once the session ended (`None` inside: it ended without one).
    status: Option<Option<i32>>,
}

impl SessionOutput {
    pub(super) fn new(session: Session) -> Self {
        Self {
            session,
            chunk: Vec::new(),
            offset: 0,
            errors: Vec::new(),
            status: None,
        }
    }

    /// Takes the next event; false once the session is over.
    fn pump(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.session.next_event() {
            Some(SessionEvent::Stdout(bytes)) => {
                self.chunk = bytes;
                self.offset = 0;
            }
            Some(SessionEvent::Stderr(bytes)) => {
                let room = MAX_ERROR_TEXT.saturating_sub(self.errors.len());
                self.errors
                    .extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Some(SessionEvent::Started) => {}
            Some(SessionEvent::Exit(code)) => self.status = Some(Some(code)),
            None => self.status = Some(None),
        }
        true
    }

    /// Reads (and drops) what is left; the status and the error text.
    pub(super) fn finish(mut self) -> (Option<i32>, String) {
        while self.pump() {}
        let text = String::from_utf8_lossy(&self.errors).trim().to_string();
        (self.status.flatten(), text)
    }
}

impl Read for SessionOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset < self.chunk.len() {
                let n = buf.len().min(self.chunk.len() - self.offset);
                buf[..n].copy_from_slice(&self.chunk[self.offset..self.offset + n]);
                self.offset += n;
                return Ok(n);
            }
            if !self.pump() {
                return Ok(0);
            }
        }
    }
}

/// Bytes written become stdin frames of a session.
pub(super) struct SessionInputWriter {
    pub(super) input: SessionInput,
    pub(super) written: u64,
}

impl Write for SessionInputWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.input.stdin(buf) {
            self.written += buf.len() as u64;
            Ok(buf.len())
        } else {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the container's side of the copy ended",
            ))
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the bytes read through it.
pub(super) struct CountingReader<R> {
    pub(super) inner: R,
    pub(super) count: u64,
}

impl<R> CountingReader<R> {
    pub(super) fn new(inner: R) -> Self {
        Self { inner, count: 0 }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
