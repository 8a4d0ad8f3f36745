//! The host's side of a restore's hand-over: the first control line is the
//! [`ControlMessage::Resume`], and the VM counts as started once the guest has answered
//! [`GuestEvent::Resumed`]. A VM that never answers (the engine could not load the zygote,
//! or its guest is wedged) is a [`RestoreFailed`]: the caller boots cold instead.

use crate::vm::{connect_console_streams, consoles_of, log_tail, Consoles, VmSpec};
use hull_protocol::{Base64, ControlMessage, GuestEvent, MAX_EVENT_LINE, RESUME_ENTROPY_BYTES};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a restored guest may take to answer.
const RESUME_TIMEOUT: Duration = Duration::from_secs(30);

/// A restore that did not come up; the zygote is suspect.
#[derive(Debug, thiserror::Error)]
#[error("the VM restored from the warm-start zygote did not resume: {0}")]
pub struct RestoreFailed(pub String);

/// Connects the consoles of `child`, an `engine` restoring `spec`, has the engine `load`
/// the saved VM (if it waits to be told) and hands the guest over ([`resume`]); a guest that
/// does not resume is a [`RestoreFailed`] (with the engine's log) and `child` is killed.
pub fn connect_resumed(
    child: &mut Child,
    spec: &VmSpec,
    engine: &str,
    load: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Consoles> {
    // An engine that refuses the saved state (layout, damage) may end before it listens:
    // that too is a failed restore, so the caller boots cold.
    let streams = connect_console_streams(
        child,
        &spec.socket_dir,
        &spec.engine_log,
        engine,
        spec.rehearse,
    )
    .map_err(|err| RestoreFailed(format!("{err:#}")))?;
    if let Err(RestoreFailed(why)) = load()
        .map_err(|err| RestoreFailed(format!("{err:#}")))
        .and_then(|()| resume(&streams[2], spec.rehearse))
    {
        let _ = child.kill();
        let _ = child.wait();
        let log = log_tail(&spec.engine_log, 800);
        return Err(RestoreFailed(format!("{why}; {engine}'s log: {log}")).into());
    }
    consoles_of(streams)
}

/// The resume message for this restore: the host's clock now, fresh host entropy; with
/// `rehearse`, for a warm-pool VM that rehearses a container and parks again.
pub fn resume_message(rehearse: bool) -> std::io::Result<ControlMessage> {
    let mut entropy = vec![0u8; RESUME_ENTROPY_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut entropy)?;
    let realtime_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        });
    Ok(ControlMessage::Resume {
        realtime_ns,
        entropy: Base64(entropy),
        rehearse,
        park_idle_s: if rehearse {
            super::pool::idle_seconds()
        } else {
            0
        },
    })
}

/// Sends the resume on `control` and waits for the guest's answer, reading no byte past it
/// (what follows belongs to the supervisor's event reader).
pub fn resume(control: &UnixStream, rehearse: bool) -> Result<(), RestoreFailed> {
    let failed = |what: String| RestoreFailed(what);
    let message = resume_message(rehearse).map_err(|e| failed(format!("no host entropy: {e}")))?;
    let mut writer = control;
    writer
        .write_all(message.to_line().as_bytes())
        .map_err(|e| failed(format!("cannot send the resume: {e}")))?;
    control
        .set_read_timeout(Some(RESUME_TIMEOUT))
        .map_err(|e| failed(e.to_string()))?;
    let answer = read_answer(control);
    let _ = control.set_read_timeout(None);
    answer
}

fn read_answer(mut control: &UnixStream) -> Result<(), RestoreFailed> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match control.read(&mut byte) {
            Ok(0) => return Err(RestoreFailed("the VMM closed the console".into())),
            Ok(_) if byte[0] == b'\n' => {
                if GuestEvent::parse_line(&line) == Some(GuestEvent::Resumed) {
                    return Ok(());
                }
                line.clear();
            }
            Ok(_) if line.len() < MAX_EVENT_LINE => line.push(byte[0]),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(RestoreFailed(format!(
                    "no answer within {RESUME_TIMEOUT:?} ({e})"
                )))
            }
        }
    }
}
