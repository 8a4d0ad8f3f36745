//! The control socket (`--control-socket`): the subset of QEMU's QMP that `hull pause` and
//! `hull unpause` use, so one client drives both engines. A session gets the greeting, then
//! answers one JSON line per request; anything unknown is QMP's `CommandNotFound`. The
//! peer is hull, but a broken one must not grow hull-vmm's memory: lines are bounded.
//!
//! | request | answer |
//! | --- | --- |
//! | `{"execute":"qmp_capabilities"}` | `{"return":{}}` |
//! | `{"execute":"stop"}` | `{"return":{}}` once every vCPU is parked |
//! | `{"execute":"cont"}` | `{"return":{}}` |
//! | `{"execute":"query-status"}` | `{"return":{"status":"paused"\|"running","running":B}}` |
//! | `{"execute":"x-hull-snapshot","arguments":{"dir":"/abs/dir"}}` | `{"return":{"state-bytes":N,"ms":N}}` once `dir/state` and `dir/memory` are written |
//! | `{"execute":"quit"}` | `{"return":{}}`, then the VM stops and hull-vmm exits 0 |
//!
//! `x-hull-snapshot` pauses the vCPUs (unless `stop` did already) and the event loop,
//! writes the snapshot (see `crate::snapshot`), and leaves the VM as it found it: running
//! again, or still paused after a `stop`. It fails with a `GenericError` naming the cause
//! (e.g. a VM with virtio-fs cannot be snapshotted) and then leaves no valid snapshot in
//! `dir`. The engine ends a zygote with `quit` after its snapshot.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::exit::{ExitSignal, GuestStop};
use super::pause::PauseGate;
use super::snapshot_control::SnapshotControl;

/// Longest request line read.
const MAX_LINE: u64 = 64 * 1024;
/// How long `stop` waits for the vCPUs to leave the guest.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the control socket acts on.
#[derive(Clone)]
pub struct VmControl {
    /// The vCPUs' pause latch.
    pub gate: Arc<PauseGate>,
    /// The VM's stop latch.
    pub exit: Arc<ExitSignal>,
    /// How many vCPU threads run.
    pub vcpus: usize,
    /// Knocks every vCPU thread out of KVM_RUN.
    pub kick: Arc<dyn Fn() + Send + Sync>,
    /// What `x-hull-snapshot` saves; None where snapshots are not wired (unit tests).
    pub snapshot: Option<Arc<SnapshotControl>>,
}

/// The greeting a QMP server sends first.
fn greeting() -> Value {
    json!({"QMP": {"version": {"qemu": {"major": 0, "minor": 0, "micro": 0},
        "package": concat!("hull-vmm ", env!("CARGO_PKG_VERSION"))}, "capabilities": []}})
}

fn error(class: &str, desc: impl Into<String>) -> Value {
    json!({"error": {"class": class, "desc": desc.into()}})
}

impl VmControl {
    /// The answer to one request line.
    pub fn answer(&self, line: &str) -> Value {
        let Ok(request) = serde_json::from_str::<Value>(line) else {
            return error("GenericError", "JSON parse error");
        };
        let Some(command) = request.get("execute").and_then(Value::as_str) else {
            return error("GenericError", "QMP input lacks member 'execute'");
        };
        match command {
            "qmp_capabilities" => json!({"return": {}}),
            "stop" => match self.pause() {
                Ok(()) => json!({"return": {}}),
                Err(e) => error("GenericError", e),
            },
            "x-hull-snapshot" => self.snapshot(&request),
            "quit" => {
                self.exit.stop(GuestStop::Quit);
                json!({"return": {}})
            }
            "cont" => {
                self.gate.resume();
                json!({"return": {}})
            }
            "query-status" => {
                let paused = self.gate.is_paused();
                json!({"return": {
                    "status": if paused { "paused" } else { "running" },
                    "running": !paused,
                }})
            }
            other => error(
                "CommandNotFound",
                format!("The command {other} has not been found"),
            ),
        }
    }

    fn pause(&self) -> Result<(), String> {
        self.gate
            .pause(self.vcpus, || (self.kick)(), &self.exit, PAUSE_TIMEOUT)
            .map_err(|e| e.to_string())
    }

    fn snapshot(&self, request: &Value) -> Value {
        let Some(dir) = request
            .pointer("/arguments/dir")
            .and_then(Value::as_str)
            .filter(|dir| !dir.is_empty())
        else {
            return error(
                "GenericError",
                "x-hull-snapshot needs arguments {\"dir\": \"/path\"}",
            );
        };
        let Some(control) = &self.snapshot else {
            return error("GenericError", "snapshots are not available in this VMM");
        };
        let already_paused = self.gate.is_paused();
        match control.snapshot(
            std::path::Path::new(dir),
            &self.exit,
            || self.pause(),
            || self.gate.resume(),
            already_paused,
        ) {
            Ok(summary) => {
                tracing::info!("snapshot written to {dir} in {} ms", summary.millis);
                json!({"return": {"state-bytes": summary.state_bytes, "ms": summary.millis}})
            }
            Err(e) => error("GenericError", crate::error_chain(&e)),
        }
    }

    /// Serves one client until it hangs up.
    pub fn session(&self, stream: UnixStream) {
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let mut reply = |value: Value| {
            let mut line = value.to_string();
            line.push_str("\r\n");
            writer.write_all(line.as_bytes()).is_ok()
        };
        if !reply(greeting()) {
            return;
        }
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = Vec::new();
            match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            if !reply(self.answer(text.trim())) {
                return;
            }
        }
    }

    /// Serves `listener` on a thread, one client after another.
    pub fn serve(self, listener: UnixListener) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    self.session(stream);
                }
            })
            .map(drop)
    }
}

/// The vCPU threads a pause kicks; emptied before they are joined (a joined thread's
/// pthread_t must not be signalled).
pub type VcpuThreads = Arc<Mutex<Vec<libc::pthread_t>>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn control(vcpus: usize) -> VmControl {
        VmControl {
            gate: Arc::new(PauseGate::new()),
            exit: Arc::new(ExitSignal::new().unwrap()),
            vcpus,
            kick: Arc::new(|| {}),
            snapshot: None,
        }
    }

    #[test]
    fn the_qmp_subset_answers_as_qemu_does() {
        let control = control(0);
        assert_eq!(
            control.answer(r#"{"execute": "qmp_capabilities"}"#),
            json!({"return": {}})
        );
        let status = |c: &VmControl| c.answer(r#"{"execute":"query-status"}"#)["return"].clone();
        assert_eq!(
            status(&control),
            json!({"status": "running", "running": true})
        );
        assert_eq!(
            control.answer(r#"{"execute":"stop"}"#),
            json!({"return": {}})
        );
        assert_eq!(
            status(&control),
            json!({"status": "paused", "running": false})
        );
        assert_eq!(
            control.answer(r#"{"execute":"cont"}"#),
            json!({"return": {}})
        );
        assert_eq!(status(&control)["running"], true);
        assert_eq!(
            control.answer(r#"{"execute":"x-hull-snapshot"}"#)["error"]["class"],
            "GenericError"
        );
        assert_eq!(
            control.answer(r#"{"execute":"x-hull-snapshot","arguments":{"dir":"/tmp/x"}}"#)
                ["error"]["desc"],
            "snapshots are not available in this VMM"
        );
        assert_eq!(
            control.answer(r#"{"execute":"x-hull-stuff"}"#)["error"]["class"],
            "CommandNotFound"
        );
        assert_eq!(
            control.answer(r#"{"execute":"quit"}"#),
            json!({"return": {}})
        );
        assert_eq!(control.exit.reason(), Some(GuestStop::Quit));
        assert_eq!(control.answer("garbage")["error"]["class"], "GenericError");
        assert_eq!(control.answer("{}")["error"]["class"], "GenericError");
    }

    #[test]
    fn a_stop_whose_vcpus_never_park_is_an_error_and_leaves_it_running() {
        let control = control(1);
        let answer = control.answer(r#"{"execute":"stop"}"#);
        assert!(
            answer["error"]["desc"].as_str().unwrap().contains("0 of 1"),
            "{answer}"
        );
        assert!(!control.gate.is_paused());
    }

    #[test]
    fn a_session_greets_and_answers_line_by_line() {
        let (client, server) = UnixStream::pair().unwrap();
        let control = control(0);
        let handle = std::thread::spawn(move || control.session(server));
        let mut writer = client.try_clone().unwrap();
        let mut reader = BufReader::new(client);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("{\"QMP\""), "{line}");
        writer
            .write_all(b"{\"execute\":\"qmp_capabilities\"}\n\n{\"execute\":\"stop\"}\n")
            .unwrap();
        for _ in 0..2 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            assert_eq!(line, "{\"return\":{}}\r\n");
        }
        // An endless line ends nothing but itself.
        writer.write_all(&vec![b'x'; 70 * 1024]).unwrap();
        writer.write_all(b"\n{\"execute\":\"cont\"}\n").unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains("GenericError"), "{line}");
        drop(writer);
        drop(reader);
        handle.join().unwrap();
    }
}
