//! Docker's hijacked connections (`attach`, `exec start`): the client asks for
//! `Upgrade: tcp`, gets `101 UPGRADED`, and the connection then carries the process's
//! output (raw for a TTY, otherwise in 8-byte-header frames, stream 1 stdout and 2 stderr)
//! and the client's stdin. A client without the upgrade headers gets the output as the
//! body of a 200 instead (no stdin), as older clients expect.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use hull_engine::containers::{Session, SessionEvent, SessionInput};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// How output is put on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A TTY's one stream, as is.
    Raw,
    /// Docker's multiplexed stream: `[stream, 0, 0, 0, len(4, big-endian)]` then the bytes.
    Multiplexed,
}

impl Framing {
    /// Raw for a TTY, framed otherwise.
    pub fn for_tty(tty: bool) -> Self {
        if tty {
            Framing::Raw
        } else {
            Framing::Multiplexed
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Framing::Raw => "application/vnd.docker.raw-stream",
            Framing::Multiplexed => "application/vnd.docker.multiplexed-stream",
        }
    }

    /// `bytes` of stream `stream` (1 stdout, 2 stderr) as they go on the wire.
    pub fn frame(self, stream: u8, bytes: &[u8]) -> Bytes {
        match self {
            Framing::Raw => Bytes::copy_from_slice(bytes),
            Framing::Multiplexed => {
                let mut framed = Vec::with_capacity(8 + bytes.len());
                framed.extend_from_slice(&[stream, 0, 0, 0]);
                let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                framed.extend_from_slice(&length.to_be_bytes());
                framed.extend_from_slice(bytes);
                Bytes::from(framed)
            }
        }
    }
}

/// What the client asked to be attached to.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    /// Forward the client's stdin.
    pub stdin: bool,
    /// Send stdout.
    pub stdout: bool,
    /// Send stderr.
    pub stderr: bool,
    /// The client's end of stdin ends the process's (exec; Docker's `StdinOnce` attach).
    pub close_stdin_at_eof: bool,
}

/// True when the client asked for the connection upgrade.
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

/// Where the session comes from: now, or once the container starts.
pub type SessionSource = tokio::sync::oneshot::Receiver<Session>;

/// Serves the hijacked connection: answers at once, then relays the session `source`
/// yields. `on_end` gets the process's status (None: the session was lost or detached).
pub fn respond(
    upgrade: Option<OnUpgrade>,
    source: SessionSource,
    framing: Framing,
    streams: Streams,
    on_end: impl FnOnce(Option<i32>) + Send + 'static,
) -> Response {
    let (output_tx, output_rx) = mpsc::channel::<Bytes>(64);
    let (input_tx, input_rx) = tokio::sync::oneshot::channel::<SessionInput>();
    tokio::spawn(async move {
        let Ok(session) = source.await else {
            return;
        };
        let _ = input_tx.send(session.input());
        let status = relay_output(session, framing, streams, &output_tx).await;
        // Recorded before the connection closes: a client reads the status right after.
        on_end(status);
        drop(output_tx);
    });
    match upgrade {
        Some(upgrade) => {
            tokio::spawn(serve_upgraded(upgrade, output_rx, input_rx, streams));
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(framing.content_type()),
            );
            response
        }
        None => {
            let stream = tokio_stream::wrappers::ReceiverStream::new(output_rx);
            let body = Body::from_stream(tokio_stream::StreamExt::map(
                stream,
                Ok::<_, std::io::Error>,
            ));
            let mut response = Response::new(body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(framing.content_type()),
            );
            response
        }
    }
}

/// Reads the session on a blocking thread and sends its output, framed; the status.
async fn relay_output(
    mut session: Session,
    framing: Framing,
    streams: Streams,
    output: &mpsc::Sender<Bytes>,
) -> Option<i32> {
    let (events_tx, mut events) = mpsc::channel::<SessionEvent>(64);
    tokio::task::spawn_blocking(move || {
        while let Some(event) = session.next_event() {
            if events_tx.blocking_send(event).is_err() {
                break;
            }
        }
    });
    let mut client_gone = false;
    while let Some(event) = events.recv().await {
        let (stream, bytes) = match event {
            SessionEvent::Stdout(bytes) if streams.stdout => (1, bytes),
            SessionEvent::Stderr(bytes) if streams.stderr => (2, bytes),
            SessionEvent::Exit(status) => return Some(status),
            _ => continue,
        };
        // A client that left stops getting output; the process runs on.
        if !client_gone && output.send(framing.frame(stream, &bytes)).await.is_err() {
            client_gone = true;
        }
    }
    None
}

/// The upgraded connection: output out until the session ends, stdin in.
async fn serve_upgraded(
    upgrade: OnUpgrade,
    mut output: mpsc::Receiver<Bytes>,
    input: tokio::sync::oneshot::Receiver<SessionInput>,
    streams: Streams,
) {
    let forward_stdin = streams.stdin;
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            tracing::debug!("connection upgrade failed: {err}");
            return;
        }
    };
    let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
    let stdin_task = tokio::spawn(async move {
        let Ok(input) = input.await else {
            return;
        };
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) if forward_stdin => {
                    let (bytes, to) = (buffer[..n].to_vec(), input.clone());
                    let sent = tokio::task::spawn_blocking(move || to.stdin(&bytes)).await;
                    if !matches!(sent, Ok(true)) {
                        break;
                    }
                }
                Ok(_) => {}
            }
        }
        if forward_stdin && streams.close_stdin_at_eof {
            let _ = tokio::task::spawn_blocking(move || input.close_stdin()).await;
        }
    });
    while let Some(bytes) = output.recv().await {
        if writer.write_all(&bytes).await.is_err() {
            break;
        }
        let _ = writer.flush().await;
    }
    let _ = writer.shutdown().await;
    stdin_task.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplexed_frames_carry_the_stream_and_length() {
        let framed = Framing::Multiplexed.frame(2, b"oops\n");
        assert_eq!(&framed[..8], &[2, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&framed[8..], b"oops\n");
        assert_eq!(&Framing::Raw.frame(1, b"hi")[..], b"hi");
    }
}
