//! `hull top`'s table: the `ps` options hull can honour, and the container's processes
//! (as the guest listed them) formatted as procps `ps` prints them, in Docker's
//! tabwriter layout (minimum width 20, padding 3).

use hull_engine::containers::TopProcess;
use std::time::{Duration, SystemTime};

/// A `ps` output column hull can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `-f`'s UID: the user's name, else the uid.
    FullUid,
    /// `-o uid`: the numeric uid.
    Uid,
    /// `-o user`.
    User,
    /// Process id.
    Pid,
    /// Parent's id.
    Ppid,
    /// `C`: integer CPU use in percent over the process's life.
    C,
    /// `%CPU` with one decimal.
    Pcpu,
    /// `STIME`: start time (`HH:MM` today, `MonDD` this year, else the year).
    Stime,
    /// `TTY` (`-f`, `-e`).
    Tty,
    /// `TT` (`-o tty`).
    Tt,
    /// `TIME`: CPU time, `[DD-]HH:MM:SS`.
    Time,
    /// `ELAPSED`: `[[DD-]hh:]mm:ss` since the start.
    Etime,
    /// `STAT` (hull knows the state letter only).
    Stat,
    /// `RSS` in KiB.
    Rss,
    /// `VSZ` in KiB.
    Vsz,
    /// The command line (or `[comm]`) under `CMD` (`-f`, `-o cmd`).
    FullCmd,
    /// The command line under `COMMAND` (`-o args`, `-o command`).
    Args,
    /// The name under `CMD` (`-e`).
    Ucmd,
    /// The name under `COMMAND` (`-o comm`).
    Comm,
}

/// `-o` field names, their columns (procps names them so).
const FIELDS: &[(&str, Column)] = &[
    ("pid", Column::Pid),
    ("ppid", Column::Ppid),
    ("uid", Column::Uid),
    ("user", Column::User),
    ("c", Column::C),
    ("pcpu", Column::Pcpu),
    ("%cpu", Column::Pcpu),
    ("stime", Column::Stime),
    ("tty", Column::Tt),
    ("time", Column::Time),
    ("etime", Column::Etime),
    ("stat", Column::Stat),
    ("rss", Column::Rss),
    ("vsz", Column::Vsz),
    ("cmd", Column::FullCmd),
    ("args", Column::Args),
    ("command", Column::Args),
    ("comm", Column::Comm),
];

impl Column {
    /// Its header, as procps prints it.
    pub fn header(self) -> &'static str {
        match self {
            Column::FullUid | Column::Uid => "UID",
            Column::User => "USER",
            Column::Pid => "PID",
            Column::Ppid => "PPID",
            Column::C => "C",
            Column::Pcpu => "%CPU",
            Column::Stime => "STIME",
            Column::Tty => "TTY",
            Column::Tt => "TT",
            Column::Time => "TIME",
            Column::Etime => "ELAPSED",
            Column::Stat => "STAT",
            Column::Rss => "RSS",
            Column::Vsz => "VSZ",
            Column::FullCmd | Column::Ucmd => "CMD",
            Column::Args | Column::Comm => "COMMAND",
        }
    }

    /// Its cell for `process` at `now`.
    pub fn cell(self, process: &TopProcess, now: SystemTime) -> String {
        let name = || {
            process
                .user
                .clone()
                .unwrap_or_else(|| process.uid.to_string())
        };
        let per_mille = process
            .cpu_ms
            .saturating_mul(1000)
            .checked_div(process.age_ms)
            .unwrap_or(0);
        match self {
            Column::FullUid | Column::User => name(),
            Column::Uid => process.uid.to_string(),
            Column::Pid => process.pid.to_string(),
            Column::Ppid => process.ppid.to_string(),
            Column::C => (per_mille / 10).min(99).to_string(),
            Column::Pcpu => format!("{}.{}", per_mille / 10, per_mille % 10),
            Column::Stime => start_time(now, Duration::from_millis(process.age_ms)),
            Column::Tty | Column::Tt => process.tty.clone(),
            Column::Time => cpu_time(process.cpu_ms / 1000),
            Column::Etime => elapsed(process.age_ms / 1000),
            Column::Stat => process.state.clone(),
            Column::Rss => process.rss_kib.to_string(),
            Column::Vsz => process.vsz_kib.to_string(),
            Column::FullCmd | Column::Args => {
                if process.args.is_empty() {
                    format!("[{}]", process.comm)
                } else {
                    process.args.clone()
                }
            }
            Column::Ucmd | Column::Comm => process.comm.clone(),
        }
    }
}

/// The columns `ps` would print for `options` (Docker passes them to `ps`; none means
/// `-ef`), or why hull cannot honour them.
pub fn columns(options: &[String]) -> Result<Vec<Column>, String> {
    const FULL: &[Column] = &[
        Column::FullUid,
        Column::Pid,
        Column::Ppid,
        Column::C,
        Column::Stime,
        Column::Tty,
        Column::Time,
        Column::FullCmd,
    ];
    let mut full = false;
    let mut listed: Vec<Column> = Vec::new();
    let mut words = options.iter();
    while let Some(word) = words.next() {
        let flags = word
            .strip_prefix('-')
            .filter(|f| !f.is_empty())
            .ok_or_else(|| unsupported(word))?;
        for (index, flag) in flags.char_indices() {
            match flag {
                // Every process: the container's are all hull lists anyway.
                'e' | 'A' => {}
                'f' => full = true,
                'o' => {
                    let rest = &flags[index + 1..];
                    let list = if rest.is_empty() {
                        words.next().ok_or("ps option -o needs a field list")?
                    } else {
                        rest
                    };
                    listed.extend(fields(list)?);
                    break;
                }
                _ => return Err(unsupported(word)),
            }
        }
    }
    if !listed.is_empty() {
        return Ok(listed);
    }
    if full || options.is_empty() {
        return Ok(FULL.to_vec());
    }
    Ok(vec![Column::Pid, Column::Tty, Column::Time, Column::Ucmd])
}

fn fields(list: &str) -> Result<Vec<Column>, String> {
    list.split([',', ' '])
        .filter(|f| !f.is_empty())
        .map(|field| {
            FIELDS
                .iter()
                .find(|(name, _)| *name == field)
                .map(|(_, column)| *column)
                .ok_or_else(|| {
                    let known: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
                    format!(
                        "hull top cannot show ps field {field:?}; it knows {}",
                        known.join(",")
                    )
                })
        })
        .collect()
}

fn unsupported(word: &str) -> String {
    format!(
        "hull top supports the ps options -e, -f and -o FIELD,... (the default is -ef), not {word:?}"
    )
}

/// The table: the headers, then one row per process. Docker's CLI needs a PID column to
/// tell the container's processes apart, and refuses output without one.
pub fn table(
    columns: &[Column],
    processes: &[TopProcess],
    now: SystemTime,
) -> Result<String, String> {
    if !columns.contains(&Column::Pid) {
        return Err("Couldn't find PID field in ps output".into());
    }
    let headers: Vec<&str> = columns.iter().map(|c| c.header()).collect();
    let rows: Vec<Vec<String>> = processes
        .iter()
        .map(|p| columns.iter().map(|c| c.cell(p, now)).collect())
        .collect();
    Ok(crate::format::table_with_min_width(&headers, &rows, 20))
}

/// `TIME`: `[DD-]HH:MM:SS`.
fn cpu_time(seconds: u64) -> String {
    let (days, rest) = (seconds / 86400, seconds % 86400);
    let clock = format!("{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60);
    if days > 0 {
        format!("{days}-{clock}")
    } else {
        clock
    }
}

/// `ELAPSED`: `[[DD-]hh:]mm:ss`.
fn elapsed(seconds: u64) -> String {
    let (days, hours) = (seconds / 86400, seconds / 3600 % 24);
    let minutes_seconds = format!("{:02}:{:02}", seconds / 60 % 60, seconds % 60);
    match (days, hours) {
        (0, 0) => minutes_seconds,
        (0, _) => format!("{hours:02}:{minutes_seconds}"),
        _ => format!("{days}-{hours:02}:{minutes_seconds}"),
    }
}

/// `STIME` of a process started `age` before `now`, in local time.
fn start_time(now: SystemTime, age: Duration) -> String {
    let started = local(now.checked_sub(age).unwrap_or(now));
    let today = local(now);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if (started.tm_year, started.tm_yday) == (today.tm_year, today.tm_yday) {
        format!("{:02}:{:02}", started.tm_hour, started.tm_min)
    } else if started.tm_year == today.tm_year {
        let month = MONTHS[usize::try_from(started.tm_mon).unwrap_or(0).min(11)];
        format!("{month}{:02}", started.tm_mday)
    } else {
        (1900 + started.tm_year).to_string()
    }
}

/// `time` broken down in the local time zone (as `ps` shows it).
fn local(time: SystemTime) -> libc::tm {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let seconds = libc::time_t::try_from(seconds).unwrap_or(0);
    // SAFETY: an all-zero `tm` is a valid value (integers and a null zone pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned values for the call's duration;
    // localtime_r is the thread-safe variant and writes only `tm`.
    unsafe { libc::localtime_r(&seconds, &mut tm) };
    tm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleep() -> TopProcess {
        TopProcess {
            pid: 42,
            ppid: 1,
            uid: 0,
            user: Some("root".into()),
            state: "S".into(),
            tty: "?".into(),
            age_ms: 90_000,
            cpu_ms: 4_500,
            rss_kib: 12,
            vsz_kib: 1240,
            comm: "sleep".into(),
            args: "sleep 100".into(),
        }
    }

    fn words(options: &[&str]) -> Vec<String> {
        options.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn the_default_is_ps_ef_in_dockers_layout() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_920_000);
        let columns = columns(&[]).unwrap();
        let text = table(&columns, &[sleep()], now).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            format!(
                "{:<20}{:<20}{:<20}{:<20}{:<20}{:<20}{:<20}CMD",
                "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME"
            )
        );
        // 4.5 s of CPU in 90 s is 5 %.
        let stime = start_time(now, Duration::from_secs(90));
        assert_eq!(
            lines.next().unwrap(),
            format!(
                "{:<20}{:<20}{:<20}{:<20}{:<20}{:<20}{:<20}sleep 100",
                "root", "42", "1", "5", stime, "?", "00:00:04"
            )
        );
        assert_eq!(columns, super::columns(&words(&["-ef"])).unwrap());
        assert_eq!(columns, super::columns(&words(&["-e", "-f"])).unwrap());
    }

    #[test]
    fn o_lists_pick_columns_and_a_pid_column_is_required() {
        let now = SystemTime::now();
        for options in [
            &["-o", "pid,comm"][..],
            &["-opid,comm"],
            &["-eo", "pid,comm"],
        ] {
            let columns = columns(&words(options)).unwrap();
            assert_eq!(columns, [Column::Pid, Column::Comm], "{options:?}");
            let text = table(&columns, &[sleep()], now).unwrap();
            assert_eq!(text, format!("{:<20}COMMAND\n{:<20}sleep\n", "PID", "42"));
        }
        let columns = columns(&words(&["-o", "pid,user,args,etime,rss"])).unwrap();
        let row = table(&columns, &[sleep()], now).unwrap();
        assert!(
            row.contains("root") && row.contains("sleep 100") && row.contains("01:30"),
            "{row}"
        );
        let no_pid = super::columns(&words(&["-o", "comm"])).unwrap();
        assert_eq!(
            table(&no_pid, &[sleep()], now).unwrap_err(),
            "Couldn't find PID field in ps output"
        );
    }

    #[test]
    fn options_hull_cannot_honour_are_refused_by_name() {
        for bad in [&["aux"][..], &["-x"], &["-o"], &["-o", "pid,wchan"]] {
            let err = columns(&words(bad)).unwrap_err();
            assert!(
                err.contains("hull top") || err.contains("-o needs"),
                "{bad:?}: {err}"
            );
        }
        assert!(columns(&words(&["-o", "pid,wchan"]))
            .unwrap_err()
            .contains("\"wchan\""));
    }

    #[test]
    fn start_times_are_a_clock_today_and_a_year_long_ago() {
        let now = SystemTime::now();
        let today = start_time(now, Duration::ZERO);
        assert_eq!((today.len(), &today[2..3]), (5, ":"), "{today}");
        let long_ago = start_time(now, Duration::from_secs(800 * 86400));
        assert!(
            long_ago.len() == 4 && long_ago.parse::<u32>().is_ok(),
            "{long_ago}"
        );
    }

    #[test]
    fn times_and_commands_read_as_ps_prints_them() {
        assert_eq!(cpu_time(3 * 86400 + 3661), "3-01:01:01");
        assert_eq!(cpu_time(59), "00:00:59");
        assert_eq!(elapsed(59), "00:59");
        assert_eq!(elapsed(3661), "01:01:01");
        assert_eq!(elapsed(86400 + 61), "1-00:01:01");
        let zombie = TopProcess {
            args: String::new(),
            ..sleep()
        };
        assert_eq!(Column::FullCmd.cell(&zombie, SystemTime::now()), "[sleep]");
        let nameless = TopProcess {
            user: None,
            uid: 1000,
            ..sleep()
        };
        assert_eq!(Column::FullUid.cell(&nameless, SystemTime::now()), "1000");
        let young = TopProcess {
            age_ms: 0,
            ..sleep()
        };
        assert_eq!(Column::C.cell(&young, SystemTime::now()), "0");
    }
}
