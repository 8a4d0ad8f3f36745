//! `hull top` in the supervisor: a client's `top` request becomes a `top` control message
//! to the guest, whose `top_process` events (ended by `top_end`) come back on hvc2 and are
//! handed to the client as one JSON line, a [`TopReply`]. The guest is untrusted: the
//! answer is bounded here too ([`TOP_MAX_PROCESSES`]) and waited for at most
//! [`TOP_TIMEOUT`].

use super::control::ControlChannel;
use hull_protocol::{ControlMessage, GuestEvent, TopProcess, TOP_MAX_PROCESSES};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the guest may take to list its processes.
pub const TOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The container's processes, as the guest listed them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopAnswer {
    /// The processes, pid order.
    pub processes: Vec<TopProcess>,
    /// Some were left out (too many).
    pub truncated: bool,
}

/// What the supervisor answers a `top` request: the answer, or why there is none.
pub type TopReply = Result<TopAnswer, String>;

/// The `top` requests waiting for the guest's answer.
#[derive(Clone)]
pub struct TopRequests {
    channel: ControlChannel,
    next_id: Arc<AtomicU32>,
    pending: Arc<Mutex<HashMap<u32, Sender<GuestEvent>>>>,
}

impl TopRequests {
    /// Requests sent to the guest on `channel`.
    pub fn new(channel: ControlChannel) -> Self {
        Self {
            channel,
            next_id: Arc::default(),
            pending: Arc::default(),
        }
    }

    /// Hands a `top_process` or `top_end` event to the request waiting for it (others, and
    /// answers nobody waits for, are dropped).
    pub fn deliver(&self, event: GuestEvent) {
        let id = match &event {
            GuestEvent::TopProcess { id, .. } | GuestEvent::TopEnd { id, .. } => *id,
            _ => return,
        };
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(waiter) = pending.get(&id) {
            let _ = waiter.send(event);
        }
    }

    /// Asks the guest for its processes and waits for the answer.
    pub fn ask(&self) -> TopReply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel();
        self.table().insert(id, sender);
        self.channel.send(&ControlMessage::Top { id });
        let answer = collect(&receiver, Instant::now() + TOP_TIMEOUT);
        self.table().remove(&id);
        answer
    }

    /// Answers the client on `stream` with one JSON line.
    pub fn serve(&self, mut stream: impl Write) {
        let reply = self.ask();
        if let Ok(mut line) = serde_json::to_string(&reply) {
            line.push('\n');
            let _ = stream.write_all(line.as_bytes());
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Sender<GuestEvent>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Gathers one answer's events until `top_end` or `deadline`.
fn collect(events: &Receiver<GuestEvent>, deadline: Instant) -> TopReply {
    let mut answer = TopAnswer::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(GuestEvent::TopProcess { process, .. }) => {
                if answer.processes.len() < TOP_MAX_PROCESSES {
                    answer.processes.push(process);
                } else {
                    answer.truncated = true;
                }
            }
            Ok(GuestEvent::TopEnd { truncated, .. }) => {
                answer.truncated |= truncated;
                answer.processes.sort_by_key(|p| p.pid);
                return Ok(answer);
            }
            Ok(_) => {}
            Err(_) => {
                return Err(format!(
                    "the container's VM did not list its processes within {}s",
                    TOP_TIMEOUT.as_secs()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control channel whose guest side is a pipe we can read.
    fn channel() -> (ControlChannel, std::sync::Arc<Mutex<Vec<u8>>>) {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let written = sink.0.clone();
        (ControlChannel::new(Some(Box::new(sink)), 0), written)
    }

    fn process(pid: i32) -> TopProcess {
        TopProcess {
            pid,
            comm: "sleep".into(),
            ..TopProcess::default()
        }
    }

    #[test]
    fn the_guests_answer_reaches_the_asker_sorted() {
        let (channel, written) = channel();
        let requests = TopRequests::new(channel);
        let guest = requests.clone();
        let asker = std::thread::spawn(move || requests.ask());
        // The guest answers what it was asked.
        let id = loop {
            let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
            if let Ok(ControlMessage::Top { id }) = serde_json::from_str(text.trim()) {
                break id;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        guest.deliver(GuestEvent::TopProcess {
            id: id + 1,
            process: process(99),
        });
        for pid in [12, 7] {
            guest.deliver(GuestEvent::TopProcess {
                id,
                process: process(pid),
            });
        }
        guest.deliver(GuestEvent::TopEnd {
            id,
            truncated: false,
        });
        let answer = asker.join().unwrap().unwrap();
        let pids: Vec<i32> = answer.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [7, 12], "another request's process is not mixed in");
        assert!(!answer.truncated);
    }

    #[test]
    fn a_guest_flooding_processes_is_cut_and_a_silent_one_times_out() {
        let (sender, receiver) = mpsc::channel();
        for pid in 0..(i32::try_from(TOP_MAX_PROCESSES).unwrap() + 5) {
            sender
                .send(GuestEvent::TopProcess {
                    id: 0,
                    process: process(pid),
                })
                .unwrap();
        }
        sender
            .send(GuestEvent::TopEnd {
                id: 0,
                truncated: false,
            })
            .unwrap();
        let answer = collect(&receiver, Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(answer.processes.len(), TOP_MAX_PROCESSES);
        assert!(answer.truncated);
        let silent = collect(&receiver, Instant::now() + Duration::from_millis(50));
        assert!(silent.unwrap_err().contains("did not list"));
    }
}
