//! Moving bytes between the host and the guest's consoles, and the container log: one JSON
//! object per chunk, tagged with its stream, so `logs` can split stdout from stderr again.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One chunk of container output.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogRecord {
    /// "stdout" or "stderr".
    pub stream: String,
    /// The bytes, lossily as UTF-8.
    pub log: String,
    /// RFC 3339 time.
    pub time: String,
}

/// The container log, shared by the output threads.
#[derive(Clone)]
pub struct ContainerLog {
    file: Arc<Mutex<File>>,
}

impl ContainerLog {
    /// Appends to the log at `path` (kept across restarts, like Docker's).
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
        })
    }

    fn append(&self, stream: &str, bytes: &[u8]) {
        let record = LogRecord {
            stream: stream.to_string(),
            log: String::from_utf8_lossy(bytes).into_owned(),
            time: crate::container::state::now_rfc3339(),
        };
        if let Ok(mut line) = serde_json::to_vec(&record) {
            line.push(b'\n');
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = file.write_all(&line);
        }
    }
}

/// Copies guest output `from` to `to` (if any) and the log until the console closes.
pub fn output(
    mut from: Box<dyn Read + Send>,
    mut to: Option<Box<dyn Write + Send>>,
    log: ContainerLog,
    stream: &'static str,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            log.append(stream, &buf[..n]);
            if let Some(out) = to.as_mut() {
                // The reader may have gone (`hull run | head`): keep draining the guest.
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    to = None;
                }
            }
        }
    })
}

/// Copies the host's stdin to the guest until EOF, then runs `at_eof` with the number of
/// bytes written (the guest reads that many before it closes the container's stdin). Nothing is read
/// before `ready` opens: see [`super::ready`].
pub fn input(
    mut to: Box<dyn Write + Send>,
    ready: super::ready::ReadyGate,
    at_eof: impl FnOnce(u64) + Send + 'static,
) {
    std::thread::spawn(move || {
        ready.wait();
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        let mut written: u64 = 0;
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                        return;
                    }
                    written += n as u64;
                }
            }
        }
        at_eof(written);
    });
}
