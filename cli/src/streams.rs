//! The terminal side of an attach or exec session: our stdin into it, its output onto ours,
//! and the signals hull receives passed on. Shared by `hull attach` and `hull exec`.

use hull_engine::containers::{Session, SessionEvent, SessionInput};
use hull_engine::supervisor::signals;
use std::io::{Read, Write};

/// Copies our stdin into the session until EOF, then ends the process's stdin (an attach
/// session leaves the container's open).
pub fn forward_stdin(input: SessionInput) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !input.stdin(&buf[..n]) {
                        return;
                    }
                }
            }
        }
        input.stdin_eof();
    });
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
