//! `top`: one process as the guest reports it, and the answer's bounds.

use serde::{Deserialize, Serialize};

/// Most processes one `top` answer lists (the rest is cut: [`GuestEvent::TopEnd`] says so).
pub const TOP_MAX_PROCESSES: usize = 256;
/// Most characters of a process's command line in a [`TopProcess`]: with escaping, every
/// `top_process` event stays under [`MAX_EVENT_LINE`].
pub const TOP_MAX_ARGS: usize = 1024;
/// Most bytes of `top_process` lines one answer sends: the answer must stay well under what
/// a console socket buffers (see [`EXEC_OUTPUT_WINDOW`]).
pub const TOP_MAX_BYTES: usize = 64 * 1024;

/// One process of the container, as the guest's /proc shows it (`hull top`): what `ps`
/// needs for its columns, raw; the host formats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopProcess {
    /// Its pid (in the guest's root pid namespace).
    pub pid: i32,
    /// Its parent's pid.
    pub ppid: i32,
    /// Its real uid.
    pub uid: u32,
    /// The uid's name in the container's /etc/passwd, if it has one.
    #[serde(default)]
    pub user: Option<String>,
    /// Its state letter (`R`, `S`, `D`, `Z`, `T`, ...).
    pub state: String,
    /// Its controlling terminal (`pts/0`, `hvc0`), `?` for none.
    pub tty: String,
    /// Milliseconds since it started.
    pub age_ms: u64,
    /// CPU time used (user + system), in milliseconds.
    pub cpu_ms: u64,
    /// Resident memory in KiB.
    pub rss_kib: u64,
    /// Virtual memory in KiB.
    pub vsz_kib: u64,
    /// Its name (`comm`, at most 15 bytes).
    pub comm: String,
    /// Its command line, arguments joined by spaces (at most [`TOP_MAX_ARGS`] characters;
    /// empty for a process without one, such as a zombie).
    pub args: String,
}
