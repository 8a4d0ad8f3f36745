//! The terminal side of an attach or exec session: our stdin into it, its output onto ours,
//! and the signals hull receives passed on. Shared by `hull attach` and `hull exec`.

use crate::detach_keys::{DetachScanner, Scanned};
use hull_engine::containers::{Session, SessionEvent, SessionInput};
use hull_engine::supervisor::{signals, terminal};
use std::io::{Read, Write};

/// Copies our stdin into the session until EOF, then ends the process's stdin (an attach
/// session leaves the container's open). With `detach_keys`, typing them detaches instead.
pub fn forward_stdin(input: SessionInput, detach_keys: Option<Vec<u8>>) {
    let mut scanner = detach_keys.map(DetachScanner::new);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (bytes, detach) = match scanner.as_mut().map(|s| s.feed(&buf[..n])) {
                None => (buf[..n].to_vec(), false),
                Some(Scanned::Forward(bytes)) => (bytes, false),
                Some(Scanned::Detach(bytes)) => (bytes, true),
            };
            if !bytes.is_empty() && !input.stdin(&bytes) {
                return;
            }
            if detach {
                input.detach();
                return;
            }
        }
        input.stdin_eof();
    });
}

/// How an attached client's session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The process ended with this status.
    Exited(i32),
    /// The user typed the detach keys: the process runs on.
    Detached,
    /// The connection ended without a status.
    Lost,
}

/// What an attached client does besides streaming output.
pub struct Attached {
    /// The process has a terminal: ours goes raw, its size is followed.
    pub tty: bool,
    /// Our stdin goes to the process.
    pub stdin: bool,
    /// The detach keys to watch our stdin for (with a tty, as Docker's CLI).
    pub detach_keys: Vec<u8>,
    /// Send our terminal's size first (attach; exec gives it in its request).
    pub send_size: bool,
    /// What to do when our stdout's reader goes away.
    pub closed_stdout: ClosedStdout,
}

/// Runs the client side of `session` until it ends: signals proxied, our terminal raw with
/// a tty, stdin forwarded, output written. Call before any other thread exists.
pub fn follow(session: Session, how: Attached) -> Ended {
    let input = session.input();
    proxy_signals(input.clone(), how.tty);
    let _raw = if how.tty {
        if how.send_size {
            if let Some((rows, cols)) = terminal::size() {
                input.resize(rows, cols);
            }
        }
        terminal::RawMode::enable()
    } else {
        None
    };
    if how.stdin {
        forward_stdin(input.clone(), how.tty.then_some(how.detach_keys));
    }
    match stream_output(session, how.closed_stdout) {
        Some(status) => Ended::Exited(status),
        None if input.is_detached() => Ended::Detached,
        None => Ended::Lost,
    }
}

/// Proxies signals sent to hull to the session's process (Docker's --sig-proxy) and, with a
/// tty, window size changes. Call before any other thread exists, so only the signal thread
/// receives them.
pub fn proxy_signals(input: SessionInput, tty: bool) {
    signals::proxy(true, tty, move |proxied| {
        let delivered = match proxied {
            signals::Proxied::Signal(signal) => input.signal(signal),
            signals::Proxied::Resize { rows, cols } => input.resize(rows, cols),
        };
        if !delivered {
            tracing::debug!("{proxied:?} not delivered");
        }
    });
}

/// What to do when our stdout's reader has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedStdout {
    /// Keep following the session (`hull attach C | head`: the container's status matters).
    Ignore,
    /// Give the process the SIGPIPE it would get writing to that pipe itself, as in a local
    /// pipeline (`hull exec C cmd | head`); its status follows.
    SendSigpipe,
}

/// Writes the session's output to ours until it ends; its status, if one came.
pub fn stream_output(mut session: Session, closed_stdout: ClosedStdout) -> Option<i32> {
    let input = session.input();
    let mut stdout = Some(std::io::stdout());
    let mut stderr = std::io::stderr();
    while let Some(event) = session.next_event() {
        match event {
            SessionEvent::Stdout(payload) => {
                let Some(out) = stdout.as_mut() else { continue };
                if out.write_all(&payload).and_then(|()| out.flush()).is_err()
                    && closed_stdout == ClosedStdout::SendSigpipe
                {
                    stdout = None;
                    input.signal(libc::SIGPIPE);
                }
            }
            SessionEvent::Stderr(payload) => {
                let _ = stderr.write_all(&payload).and_then(|()| stderr.flush());
            }
            SessionEvent::Exit(status) => return Some(status),
            SessionEvent::Started => {}
        }
    }
    None
}
