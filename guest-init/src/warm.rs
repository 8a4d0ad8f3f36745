//! Warm start in the guest (`hull_protocol::warm`): a zygote's hull-init parks on the control
//! console until the host has saved the VM; every restore of it continues here, takes the
//! container's clock and entropy, forgets the placeholder disks' blocks, and goes on as a
//! cold boot. A warm-pool VM first rehearses a container and parks again ([`Parking`]).

use crate::console::make_raw;
use hull_protocol::{Base64, ControlMessage, GuestEvent, MAX_CONTROL_LINE};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// RNDADDENTROPY, `_IOW('R', 0x03, int[2])`: adds bytes to the input pool and credits them.
const RNDADDENTROPY: libc::c_ulong = 0x4008_5203;
/// RNDRESEEDCRNG, `_IO('R', 0x07)`: reseeds the CRNG from the input pool now.
const RNDRESEEDCRNG: libc::c_ulong = 0x5207;
/// BLKFLSBUF, `_IO(0x12, 97)`: writes back and drops a block device's cached blocks.
const BLKFLSBUF: libc::c_ulong = 0x1261;

/// A zygote's (or a restore of it's) hold on the control console while it is parked.
pub struct Parking {
    control: File,
    resume: Resume,
}

/// What the last [`ControlMessage::Resume`] asked for beyond the clock and entropy.
#[derive(Debug, Clone, Copy)]
struct Resume {
    rehearse: bool,
    park_idle: Option<Duration>,
}

impl Parking {
    /// Whether the last resume asked for a rehearsal: run the spec on the config disk,
    /// clean up, then [`Parking::park_again`].
    pub fn rehearse(&self) -> bool {
        self.resume.rehearse
    }

    /// After a rehearsal: announces the park again and waits for the next resume (the host
    /// hands this VM to a container meanwhile: new disks, consoles, serial log). None when
    /// no resume came within the idle time the rehearsal's resume gave: the VM should power
    /// off (a pool nobody claims does not hold the host's memory for ever).
    pub fn park_again(mut self) -> Option<Self> {
        crate::timeline::mark("rehearsed");
        let deadline = self.resume.park_idle.map(|idle| Instant::now() + idle);
        self.resume = park(&mut self.control, deadline)?;
        Some(self)
    }

    /// Keeps the console open for the VM's life: its tty then never goes through a last
    /// close, so nothing the host sends before the relay opens it again can be lost.
    pub fn keep_open(self) {
        std::mem::forget(self.control);
    }
}

/// In a zygote (the kernel command line has `hull.warm=park`): announces the park, waits for
/// the host's [`ControlMessage::Resume`] (the VM is saved and restored meanwhile) and applies
/// it. Anywhere else it returns None at once.
pub fn park_if_zygote() -> Option<Parking> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if !hull_protocol::parks_for_snapshot(&cmdline) {
        return None;
    }
    let path = Path::new("/dev").join(hull_protocol::CONSOLE_CONTROL);
    let mut control = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
    {
        Ok(control) => control,
        Err(e) => {
            crate::log!("cannot park for a snapshot: {}: {e}", path.display());
            return None;
        }
    };
    make_raw(&control);
    let resume = park(&mut control, None)?;
    Some(Parking { control, resume })
}

/// Announces the park, waits (until `deadline`, if any) for the resume, applies it (clock,
/// entropy, disk caches) and answers.
fn park(control: &mut File, deadline: Option<Instant>) -> Option<Resume> {
    send(control, &GuestEvent::Parked);
    let (realtime_ns, entropy, resume) = wait_for_resume(control, deadline)?;
    crate::timeline::mark("restored");
    set_clock(realtime_ns);
    reseed_random(&entropy.0);
    flush_block_caches(Path::new("/sys/block"));
    send(control, &GuestEvent::Resumed);
    if resume.rehearse {
        crate::log!("restored from a warm-start zygote for the warm pool: rehearsing");
    } else {
        crate::log!("restored from a warm-start zygote");
    }
    Some(resume)
}

fn send(control: &mut File, event: &GuestEvent) {
    if let Err(e) = control.write_all(event.to_line().as_bytes()) {
        crate::log!("cannot send {event:?} on the control console: {e}");
    }
}

/// Reads control lines until a `Resume` (None once `deadline` has passed); one byte at a
/// time, so not a byte of what the host sends after it is taken from the relay that reads
/// the console next.
fn wait_for_resume(control: &mut File, deadline: Option<Instant>) -> Option<(u64, Base64, Resume)> {
    loop {
        let line = read_line(control, deadline)?;
        match serde_json::from_slice::<ControlMessage>(&line) {
            Ok(ControlMessage::Resume {
                realtime_ns,
                entropy,
                rehearse,
                park_idle_s,
            }) => {
                let park_idle = (park_idle_s > 0).then(|| Duration::from_secs(park_idle_s.into()));
                return Some((
                    realtime_ns,
                    entropy,
                    Resume {
                        rehearse,
                        park_idle,
                    },
                ));
            }
            Ok(other) => crate::log!("parked: ignoring {other:?} before the resume"),
            Err(e) => crate::log!("parked: unreadable control line: {e}"),
        }
    }
}

fn read_line(control: &mut File, deadline: Option<Instant>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if let Some(deadline) = deadline {
            let left = deadline.checked_duration_since(Instant::now())?;
            if !readable_within(control, left) {
                continue;
            }
        }
        match control.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => return Some(line),
            Ok(1) if line.len() < MAX_CONTROL_LINE => line.push(byte[0]),
            Ok(1) => {}
            // EOF or an error on the console: the host is not there yet; wait for it.
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Whether `control` has something to read within `wait` (at most a minute per call).
fn readable_within(control: &File, wait: Duration) -> bool {
    let millis = u16::try_from(wait.as_millis().min(60_000)).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(control.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(millis)), Ok(n) if n > 0)
}

fn set_clock(realtime_ns: u64) {
    let seconds = i64::try_from(realtime_ns / 1_000_000_000).unwrap_or(i64::MAX);
    let nanos = i64::try_from(realtime_ns % 1_000_000_000).unwrap_or(0);
    let now = nix::sys::time::TimeSpec::new(seconds, nanos);
    if let Err(e) = nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, now) {
        crate::log!("cannot set the clock after the restore: {e}");
    }
}

/// Mixes `entropy` into the kernel's input pool (credited) and reseeds the CRNG from it, so
/// every later read of /dev/urandom or getrandom() differs between restores of one zygote.
fn reseed_random(entropy: &[u8]) {
    let random = match File::options().write(true).open("/dev/urandom") {
        Ok(random) => random,
        Err(e) => {
            crate::log!("cannot open /dev/urandom to reseed it: {e}");
            return;
        }
    };
    // struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
    let mut request = Vec::with_capacity(8 + entropy.len());
    let bits = i32::try_from(entropy.len() * 8).unwrap_or(i32::MAX);
    let size = i32::try_from(entropy.len()).unwrap_or(i32::MAX);
    request.extend_from_slice(&bits.to_ne_bytes());
    request.extend_from_slice(&size.to_ne_bytes());
    request.extend_from_slice(entropy);
    // The kernel reads the u32 words of `buf` from a 4-byte-aligned buffer.
    let mut words = vec![0u32; request.len().div_ceil(4)];
    for (word, chunk) in words.iter_mut().zip(request.chunks(4)) {
        let mut bytes = [0u8; 4];
        bytes[..chunk.len()].copy_from_slice(chunk);
        *word = u32::from_ne_bytes(bytes);
    }
    // SAFETY: RNDADDENTROPY reads a rand_pool_info header and `buf_size` bytes after it
    // from the pointer; `words` holds exactly that and outlives the call.
    let added = unsafe { libc::ioctl(random.as_raw_fd(), RNDADDENTROPY, words.as_ptr()) };
    // SAFETY: RNDRESEEDCRNG takes no argument.
    let reseeded = unsafe { libc::ioctl(random.as_raw_fd(), RNDRESEEDCRNG) };
    if added != 0 || reseeded != 0 {
        crate::log!(
            "cannot reseed the random generator after the restore: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Drops every virtio disk's cached blocks (BLKFLSBUF): the zygote's kernel read the first
/// blocks of its placeholder disks when it probed them, and they must not be mistaken for
/// the container's. Cheap, unlike unbinding the driver (tens of ms per disk under TCG).
fn flush_block_caches(sys_block: &Path) {
    let Ok(entries) = std::fs::read_dir(sys_block) else {
        return;
    };
    for name in entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
    {
        if !name.starts_with("vd") {
            continue;
        }
        let device = Path::new("/dev").join(&name);
        match File::open(&device) {
            Ok(disk) => {
                // SAFETY: BLKFLSBUF takes no argument; the fd is an open block device.
                let flushed = unsafe { libc::ioctl(disk.as_raw_fd(), BLKFLSBUF) };
                if flushed != 0 {
                    crate::log!(
                        "cannot drop the cached blocks of {}: {}",
                        device.display(),
                        std::io::Error::last_os_error()
                    );
                }
            }
            Err(e) => crate::log!("cannot open {} to drop its cache: {e}", device.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_park_with_a_deadline_ends_and_one_without_reads_its_line() {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        let mut reader = File::from(reader);
        let mut writer = File::from(writer);
        let started = Instant::now();
        let deadline = Some(started + Duration::from_millis(100));
        assert!(read_line(&mut reader, deadline).is_none());
        assert!(started.elapsed() >= Duration::from_millis(100));
        writer.write_all(b"{\"partial\"\n").unwrap();
        let far = Some(Instant::now() + Duration::from_secs(60));
        assert_eq!(read_line(&mut reader, far).unwrap(), b"{\"partial\"");
        writer.write_all(b"no deadline\n").unwrap();
        assert_eq!(read_line(&mut reader, None).unwrap(), b"no deadline");
    }
}
