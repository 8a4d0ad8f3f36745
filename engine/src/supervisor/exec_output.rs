//! The way from the guest's output of one exec session to its client, flow-controlled: the
//! thread reading hvc2 only queues frames (it must never wait for a client), a thread per
//! session writes them to the client at the client's pace and acknowledges the output
//! bytes to the guest ([`ControlMessage::ExecOutputAck`]) once written. The guest sends at
//! most [`EXEC_OUTPUT_WINDOW`] unacknowledged bytes per session, so the queue stays bounded
//! and a slow reader slows the process instead of losing its session. A client that left
//! gets nothing more; its output is still acknowledged so the process runs on.

use super::control::ControlChannel;
use super::wire::{write_frame, EXIT, STARTED};
use hull_protocol::{ControlMessage, EXEC_OUTPUT_WINDOW};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

/// Output bytes written before they are acknowledged even while more are queued: a few
/// acks per window keep the guest streaming without an ack per message.
const ACK_BATCH: u64 = EXEC_OUTPUT_WINDOW / 4;

/// What a session's client is sent, in order.
#[derive(Debug)]
pub enum ClientFrame {
    /// The process exec'd.
    Started,
    /// Output: the frame kind (STDOUT or STDERR) and the bytes.
    Output(u8, Vec<u8>),
    /// The process's status: the last frame, after which the connection closes.
    Exit(i32),
}

/// The queue of one session's frames to its client.
pub struct OutputQueue {
    frames: Sender<ClientFrame>,
}

impl OutputQueue {
    /// Starts the writer thread of session `id`, whose client is `client`; acks go to the
    /// guest through `channel`.
    pub fn start(id: u32, client: Arc<UnixStream>, channel: ControlChannel) -> Self {
        let (frames, queued) = mpsc::channel();
        std::thread::spawn(move || deliver(id, &client, &queued, &channel));
        Self { frames }
    }

    /// Queues `frame` (never blocks). Dropping the queue ends the writer once it is empty.
    pub fn push(&self, frame: ClientFrame) {
        let _ = self.frames.send(frame);
    }
}

/// Writes the queued frames to the client until the exit frame (or the queue's end), and
/// acknowledges the output bytes.
fn deliver(id: u32, client: &UnixStream, queued: &Receiver<ClientFrame>, channel: &ControlChannel) {
    let mut connected = true;
    let mut written = 0u64;
    let ack = |written: &mut u64| {
        if *written > 0 {
            let bytes = std::mem::take(written);
            channel.send(&ControlMessage::ExecOutputAck { id, bytes });
        }
    };
    loop {
        let frame = match queued.try_recv() {
            Ok(frame) => frame,
            Err(TryRecvError::Empty) => {
                // Everything so far is with the client: let the guest send more.
                ack(&mut written);
                match queued.recv() {
                    Ok(frame) => frame,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        let (kind, payload, last) = match frame {
            ClientFrame::Started => (STARTED, Vec::new(), false),
            ClientFrame::Output(kind, bytes) => (kind, bytes, false),
            ClientFrame::Exit(code) => (EXIT, code.to_be_bytes().to_vec(), true),
        };
        if connected && write_frame(&mut &*client, kind, &payload).is_err() {
            tracing::debug!("exec {id}: the client left; the process's output is dropped");
            connected = false;
        }
        if !last && kind != STARTED {
            written += payload.len() as u64;
            if written >= ACK_BATCH {
                ack(&mut written);
            }
        }
        if last {
            break;
        }
    }
    ack(&mut written);
    // Also ends the thread reading the client's frames.
    let _ = client.shutdown(Shutdown::Both);
}
