//! `hull top`: PID 1 lists the container's processes from /proc and answers the host's
//! `top` request on hvc2, one `top_process` event per process, then `top_end`. The answer is
//! bounded (`TOP_MAX_PROCESSES`, `TOP_MAX_BYTES`, `TOP_MAX_ARGS`): the host formats it as
//! `ps` would.

use hull_protocol::{GuestEvent, TopProcess, TOP_MAX_ARGS, TOP_MAX_BYTES, TOP_MAX_PROCESSES};
use std::io::{Read, Write};
use std::path::Path;

/// Where the kernel's view of the processes is.
pub struct ProcSource<'a> {
    /// `/proc` (a fake tree in tests).
    pub proc_root: &'a Path,
    /// The container's cgroup directory: its `cgroup.procs` are the container's processes.
    /// Without one, every process but PID 1 and the kernel's threads is.
    pub cgroup: Option<&'a Path>,
    /// Clock ticks per second (`/proc/PID/stat` times).
    pub ticks_per_second: u64,
    /// Bytes per page (`/proc/PID/stat` rss).
    pub page_size: u64,
}

impl ProcSource<'_> {
    /// This guest's `/proc` with the container's `cgroup`.
    pub fn system(cgroup: Option<&Path>) -> ProcSource<'_> {
        let sysconf = |var| {
            nix::unistd::sysconf(var)
                .ok()
                .flatten()
                .and_then(|v| u64::try_from(v).ok())
                .filter(|v| *v > 0)
        };
        ProcSource {
            proc_root: Path::new("/proc"),
            cgroup,
            ticks_per_second: sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap_or(100),
            page_size: sysconf(nix::unistd::SysconfVar::PAGE_SIZE).unwrap_or(4096),
        }
    }

    /// The container's processes, pid order, at most `TOP_MAX_PROCESSES` (true: some were
    /// left out).
    pub fn processes(&self) -> (Vec<TopProcess>, bool) {
        let mut pids = self.pids();
        pids.sort_unstable();
        pids.dedup();
        let uptime_ms = read_small(&self.proc_root.join("uptime"))
            .split_whitespace()
            .next()
            .and_then(seconds_as_ms)
            .unwrap_or(0);
        // The container's own /etc/passwd names its users, as `ps` inside it would.
        let passwd = pids
            .first()
            .map(|pid| {
                crate::users::read_account_file(
                    &self.proc_root.join(format!("{pid}/root/etc/passwd")),
                )
            })
            .unwrap_or_default();
        let mut processes = Vec::new();
        let mut truncated = false;
        for pid in pids {
            if processes.len() == TOP_MAX_PROCESSES {
                truncated = true;
                break;
            }
            // A process that exited meanwhile is simply not listed.
            if let Some(process) = self.process(pid, uptime_ms, &passwd) {
                processes.push(process);
            }
        }
        (processes, truncated)
    }

    fn pids(&self) -> Vec<i32> {
        if let Some(cgroup) = self.cgroup {
            let procs = read_small(&cgroup.join("cgroup.procs"));
            if !procs.is_empty() {
                return procs
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect();
            }
        }
        let Ok(entries) = std::fs::read_dir(self.proc_root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid > 2)
            .filter(|pid| {
                // Kernel threads are children of kthreadd (pid 2).
                let stat = read_small(&self.proc_root.join(format!("{pid}/stat")));
                parse_stat(&stat).is_some_and(|s| s.ppid != 2)
            })
            .collect()
    }

    fn process(&self, pid: i32, uptime_ms: u64, passwd: &str) -> Option<TopProcess> {
        let dir = self.proc_root.join(pid.to_string());
        let stat = parse_stat(&read_small(&dir.join("stat")))?;
        let uid = read_small(&dir.join("status"))
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let to_ms = |ticks: u64| ticks.saturating_mul(1000) / self.ticks_per_second;
        Some(TopProcess {
            pid,
            ppid: stat.ppid,
            uid,
            user: crate::users::user_name(passwd, uid).map(|n| printable(n, 32)),
            state: stat.state,
            tty: tty_name(stat.tty_nr),
            age_ms: uptime_ms.saturating_sub(to_ms(stat.start_ticks)),
            cpu_ms: to_ms(stat.cpu_ticks),
            rss_kib: stat.rss_pages.saturating_mul(self.page_size) / 1024,
            vsz_kib: stat.vsize_bytes / 1024,
            comm: printable(&stat.comm, 16),
            args: command_line(&dir.join("cmdline")),
        })
    }
}

/// Answers `top` request `id` on `control` (hvc2).
pub fn answer(id: u32, source: &ProcSource<'_>, control: &std::fs::File) {
    let (processes, mut truncated) = source.processes();
    let mut control = control;
    let mut sent = 0;
    for process in processes {
        let line = GuestEvent::TopProcess { id, process }.to_line();
        if sent + line.len() > TOP_MAX_BYTES {
            truncated = true;
            break;
        }
        sent += line.len();
        if control.write_all(line.as_bytes()).is_err() {
            return;
        }
    }
    let _ = control.write_all(GuestEvent::TopEnd { id, truncated }.to_line().as_bytes());
}

/// The fields of `/proc/PID/stat` that `top` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    comm: String,
    state: String,
    ppid: i32,
    tty_nr: u64,
    cpu_ticks: u64,
    start_ticks: u64,
    vsize_bytes: u64,
    rss_pages: u64,
}

/// Parses `/proc/PID/stat`; the name (field 2) may hold spaces and parentheses.
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state).
    let number = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        comm,
        state: fields.first()?.to_string(),
        ppid: fields.get(1)?.parse().ok()?,
        tty_nr: number(7)?,
        cpu_ticks: number(14)?.saturating_add(number(15)?),
        start_ticks: number(22)?,
        vsize_bytes: number(23)?,
        rss_pages: u64::try_from(fields.get(21)?.parse::<i64>().ok()?).unwrap_or(0),
    })
}

/// `12.34` seconds (as /proc/uptime writes them) in milliseconds.
fn seconds_as_ms(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut ms: u64 = whole.parse::<u64>().ok()?.checked_mul(1000)?;
    for (digit, scale) in fraction.chars().zip([100, 10, 1]) {
        ms += u64::from(digit.to_digit(10)?) * scale;
    }
    Some(ms)
}

/// `ps`'s TTY name of a `tty_nr` (device number): `?` for none.
fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        5 if minor == 1 => "console".into(),
        229 => format!("hvc{minor}"),
        _ => "?".into(),
    }
}

/// The command line, arguments joined by spaces, at most `TOP_MAX_ARGS` characters.
fn command_line(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(4 * TOP_MAX_ARGS as u64).read_to_end(&mut bytes);
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    let joined: Vec<u8> = bytes
        .into_iter()
        .map(|b| if b == 0 { b' ' } else { b })
        .collect();
    printable(&String::from_utf8_lossy(&joined), TOP_MAX_ARGS)
}

/// `text` with control characters shown as `?` (as `ps` does), at most `max` characters.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A small /proc or cgroup file (at most 64 KiB), empty if unreadable.
fn read_small(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(64 * 1024).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const SLEEP_STAT: &str = "42 (sleep) S 1 42 42 34816 42 4194304 100 0 0 0 3 2 0 0 20 0 1 0 \
        250 1269760 3 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";

    fn fake_proc(dir: &Path, pid: i32, stat: &str, uid: u32, cmdline: &[u8]) {
        let p = dir.join(pid.to_string());
        fs::create_dir_all(p.join("root/etc")).unwrap();
        fs::write(p.join("stat"), stat).unwrap();
        fs::write(
            p.join("status"),
            format!("Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        )
        .unwrap();
        fs::write(p.join("cmdline"), cmdline).unwrap();
        fs::write(
            p.join("root/etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
        )
        .unwrap();
    }

    #[test]
    fn stat_lines_parse_even_with_odd_names() {
        let stat = parse_stat(SLEEP_STAT).unwrap();
        assert_eq!(stat.comm, "sleep");
        assert_eq!((stat.state.as_str(), stat.ppid), ("S", 1));
        assert_eq!((stat.cpu_ticks, stat.start_ticks), (5, 250));
        assert_eq!(
            (stat.vsize_bytes, stat.rss_pages, stat.tty_nr),
            (1269760, 3, 34816)
        );
        let odd = SLEEP_STAT.replace("(sleep)", "(a) (b c)");
        assert_eq!(parse_stat(&odd).unwrap().comm, "a) (b c");
        assert_eq!(parse_stat("42 (x) S"), None, "truncated");
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn uptime_seconds_become_milliseconds() {
        assert_eq!(seconds_as_ms("12.50"), Some(12_500));
        assert_eq!(seconds_as_ms("7"), Some(7_000));
        assert_eq!(seconds_as_ms("0.0456"), Some(45));
        assert_eq!(seconds_as_ms("x.1"), None);
    }

    #[test]
    fn terminals_are_named_as_ps_names_them() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name((136 << 8) | 5), "pts/5");
        assert_eq!(tty_name(229 << 8), "hvc0");
        assert_eq!(tty_name((4 << 8) | 64), "ttyS0");
        assert_eq!(tty_name((5 << 8) | 1), "console");
    }

    #[test]
    fn the_cgroups_processes_are_listed_with_users_and_times() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        fake_proc(&proc_root, 42, SLEEP_STAT, 0, b"sleep\x00100\x00");
        let www = SLEEP_STAT.replacen("42 (sleep) S 1", "57 (httpd\n) R 42", 1);
        fake_proc(&proc_root, 57, &www, 33, b"");
        fake_proc(&proc_root, 99, SLEEP_STAT, 0, b"not in the cgroup");
        fs::write(proc_root.join("uptime"), "12.50 3.00\n").unwrap();
        let cgroup = dir.path().join("cg");
        fs::create_dir_all(&cgroup).unwrap();
        fs::write(cgroup.join("cgroup.procs"), "57\n42\n1000\n").unwrap();
        let source = ProcSource {
            proc_root: &proc_root,
            cgroup: Some(&cgroup),
            ticks_per_second: 100,
            page_size: 4096,
        };
        let (processes, truncated) = source.processes();
        assert!(!truncated);
        assert_eq!(
            processes.len(),
            2,
            "pid 1000 is gone, 99 is not the container's"
        );
        let sleep = &processes[0];
        assert_eq!((sleep.pid, sleep.ppid, sleep.uid), (42, 1, 0));
        assert_eq!(sleep.user.as_deref(), Some("root"));
        assert_eq!(sleep.args, "sleep 100");
        assert_eq!((sleep.age_ms, sleep.cpu_ms), (10_000, 50));
        assert_eq!((sleep.rss_kib, sleep.vsz_kib), (12, 1240));
        assert_eq!(sleep.tty, "pts/0");
        let httpd = &processes[1];
        assert_eq!((httpd.pid, httpd.ppid, httpd.state.as_str()), (57, 42, "R"));
        assert_eq!(httpd.user.as_deref(), Some("www"));
        assert_eq!((httpd.comm.as_str(), httpd.args.as_str()), ("httpd?", ""));
    }

    #[test]
    fn without_a_cgroup_everything_but_init_and_kernel_threads_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(
            dir.path(),
            1,
            &SLEEP_STAT.replacen("42 (sleep) S 1", "1 (init) S 0", 1),
            0,
            b"/init",
        );
        fake_proc(
            dir.path(),
            2,
            &SLEEP_STAT.replacen("42 (sleep) S 1", "2 (kthreadd) S 0", 1),
            0,
            b"",
        );
        fake_proc(
            dir.path(),
            7,
            &SLEEP_STAT.replacen("42 (sleep) S 1", "7 (kworker) I 2", 1),
            0,
            b"",
        );
        fake_proc(dir.path(), 42, SLEEP_STAT, 1000, b"sleep\x00100\x00");
        let source = ProcSource {
            proc_root: dir.path(),
            cgroup: None,
            ticks_per_second: 100,
            page_size: 4096,
        };
        let (processes, _) = source.processes();
        let pids: Vec<i32> = processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [42]);
        assert_eq!(processes[0].user, None, "uid 1000 has no name");
    }

    #[test]
    fn the_answer_is_bounded_and_ends_with_top_end() {
        let dir = tempfile::tempdir().unwrap();
        let long = vec![b'x'; 10 * TOP_MAX_ARGS];
        for pid in 3..(13 + i32::try_from(TOP_MAX_PROCESSES).unwrap()) {
            let stat = SLEEP_STAT.replacen("42 (sleep)", &format!("{pid} (sleep)"), 1);
            fake_proc(dir.path(), pid, &stat, 0, &long);
        }
        let source = ProcSource {
            proc_root: dir.path(),
            cgroup: None,
            ticks_per_second: 100,
            page_size: 4096,
        };
        let out = tempfile::tempfile().unwrap();
        answer(9, &source, &out);
        let mut text = String::new();
        let mut out = out;
        use std::io::Seek;
        out.rewind().unwrap();
        out.read_to_string(&mut text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let events: Vec<GuestEvent> = lines
            .iter()
            .map(|l| GuestEvent::parse_line(l.as_bytes()).unwrap())
            .collect();
        assert!(text.len() <= TOP_MAX_BYTES + 100, "{}", text.len());
        assert_eq!(
            events.last(),
            Some(&GuestEvent::TopEnd {
                id: 9,
                truncated: true
            })
        );
        let GuestEvent::TopProcess { process, .. } = &events[0] else {
            panic!("{:?}", events[0])
        };
        assert_eq!(process.args.len(), TOP_MAX_ARGS);
    }
}
