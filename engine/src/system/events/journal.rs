//! The journal file: appended by every hull process under a shared lock, compacted under an
//! exclusive one, followed by readers through a cursor that survives compaction.

use super::{Event, EventFilter, KEEP_EVENTS, ROTATE_BYTES};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often a follower looks for new lines.
const POLL: Duration = Duration::from_millis(100);

/// `<root>/events.jsonl` and its lock.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
    lock: PathBuf,
}

/// Where a reader is: the file (by inode), how far it read, and the newest event it saw
/// (to skip what it already had when compaction replaced the file).
#[derive(Debug, Clone, Default)]
pub struct EventCursor {
    inode: Option<u64>,
    offset: u64,
    newest_seen: i64,
}

impl EventLog {
    /// The journal of the store under `root`.
    pub fn in_root(root: &Path) -> Self {
        Self {
            path: root.join("events.jsonl"),
            lock: root.join("events.lock"),
        }
    }

    /// Appends `event`. A journal that cannot be written never fails the operation it
    /// records: the failure is logged and the event lost.
    pub fn record(&self, event: &Event) {
        if let Err(err) = self.append(event) {
            tracing::warn!(path = %self.path.display(), "cannot record an event: {err}");
        }
    }

    fn append(&self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        let size = {
            let _shared = self.locked(FlockArg::LockShared)?;
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            // One write of one line: O_APPEND keeps concurrent writers' lines whole.
            file.write_all(&line)?;
            file.metadata()?.len()
        };
        if size > ROTATE_BYTES {
            self.compact()?;
        }
        Ok(())
    }

    /// Keeps the newest [`KEEP_EVENTS`] lines, replacing the file atomically.
    fn compact(&self) -> io::Result<()> {
        let _exclusive = self.locked(FlockArg::LockExclusive)?;
        if fs::metadata(&self.path)?.len() <= ROTATE_BYTES {
            return Ok(()); // another writer compacted it meanwhile
        }
        let text = fs::read(&self.path)?;
        let lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let kept = &lines[lines.len().saturating_sub(KEEP_EVENTS)..];
        let temporary = self.path.with_extension("jsonl.tmp");
        let mut out = File::create(&temporary)?;
        for line in kept {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
        out.sync_all()?;
        fs::rename(&temporary, &self.path)
    }

    fn locked(&self, how: FlockArg) -> io::Result<Flock<File>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)?;
        Flock::lock(file, how).map_err(|(_, errno)| io::Error::from(errno))
    }

    /// A cursor at the journal's end: only events recorded from now on.
    pub fn cursor_at_end(&self) -> EventCursor {
        match fs::metadata(&self.path) {
            Ok(meta) => EventCursor {
                inode: Some(meta.ino()),
                offset: meta.len(),
                newest_seen: now_nanos(),
            },
            Err(_) => EventCursor::default(),
        }
    }

    /// The events recorded after `cursor`, which moves past them.
    pub fn read_new(&self, cursor: &mut EventCursor) -> io::Result<Vec<Event>> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let inode = file.metadata()?.ino();
        let replaced = cursor.inode.is_some_and(|seen| seen != inode);
        if cursor.inode != Some(inode) {
            cursor.inode = Some(inode);
            cursor.offset = 0;
        }
        file.seek(SeekFrom::Start(cursor.offset))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        // A line still being written is read next time.
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        cursor.offset += complete as u64;
        let mut events = Vec::new();
        for line in text[..complete].split(|b| *b == b'\n') {
            let Ok(event) = serde_json::from_slice::<Event>(line) else {
                continue; // empty or damaged line: skip it, keep the rest
            };
            if replaced && event.time_nano <= cursor.newest_seen {
                continue;
            }
            events.push(event);
        }
        if let Some(newest) = events.iter().map(|e| e.time_nano).max() {
            cursor.newest_seen = cursor.newest_seen.max(newest);
        }
        Ok(events)
    }

    /// Calls `each` with every event that passes `filter`, from `since` (Unix nanoseconds;
    /// None: only new ones) until `until` (None: until `each` returns false). Past events
    /// first, then new ones as they are recorded.
    pub fn follow(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        filter: &EventFilter,
        mut each: impl FnMut(&Event) -> bool,
    ) -> io::Result<()> {
        let mut cursor = if since.is_some() || until.is_some() {
            EventCursor::default()
        } else {
            self.cursor_at_end()
        };
        loop {
            for event in self.read_new(&mut cursor)? {
                if since.is_some_and(|s| event.time_nano < s)
                    || until.is_some_and(|u| event.time_nano > u)
                    || !filter.matches(&event)
                {
                    continue;
                }
                if !each(&event) {
                    return Ok(());
                }
            }
            if until.is_some_and(|u| now_nanos() > u) {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
    }
}

fn now_nanos() -> i64 {
    super::unix_nanos(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn event(action: &str, name: &str) -> Event {
        Event::container(
            action,
            &format!("id-{name}"),
            BTreeMap::from([("name".to_string(), name.to_string())]),
        )
    }

    #[test]
    fn a_cursor_at_the_end_sees_only_new_events_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::in_root(dir.path());
        log.record(&event("create", "old"));
        let mut cursor = log.cursor_at_end();
        assert!(log.read_new(&mut cursor).unwrap().is_empty());
        log.record(&event("start", "new"));
        let seen = log.read_new(&mut cursor).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].action, "start");
        assert!(log.read_new(&mut cursor).unwrap().is_empty());
    }

    #[test]
    fn half_written_and_damaged_lines_are_not_events() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::in_root(dir.path());
        let mut cursor = EventCursor::default();
        let whole = serde_json::to_string(&event("create", "a")).unwrap();
        fs::write(&log.path, format!("garbage\n{whole}\n{}", &whole[..10])).unwrap();
        let seen = log.read_new(&mut cursor).unwrap();
        assert_eq!(seen.len(), 1);
        // The half line completes later and is read then.
        let mut file = OpenOptions::new().append(true).open(&log.path).unwrap();
        file.write_all(format!("{}\n", &whole[10..]).as_bytes())
            .unwrap();
        assert_eq!(log.read_new(&mut cursor).unwrap().len(), 1);
    }

    #[test]
    fn compaction_keeps_the_newest_and_followers_skip_what_they_saw() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::in_root(dir.path());
        let mut cursor = EventCursor::default();
        let mut written = 0;
        while fs::metadata(&log.path).map_or(0, |m| m.len()) <= ROTATE_BYTES / 2 {
            log.record(&event("create", &format!("c{written}")));
            written += 1;
        }
        assert_eq!(log.read_new(&mut cursor).unwrap().len(), written);
        // Grow past the threshold: the next append compacts.
        let mut more = 0;
        let inode = fs::metadata(&log.path).unwrap().ino();
        while fs::metadata(&log.path).unwrap().ino() == inode {
            log.record(&event("start", &format!("s{more}")));
            more += 1;
        }
        let lines = fs::read_to_string(&log.path).unwrap().lines().count();
        assert_eq!(lines, KEEP_EVENTS);
        let after = log.read_new(&mut cursor).unwrap();
        assert_eq!(
            after.len(),
            more.min(KEEP_EVENTS),
            "only events not seen before"
        );
        assert!(after.iter().all(|e| e.action == "start"));
    }

    #[test]
    fn follow_with_until_in_the_past_replays_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::in_root(dir.path());
        log.record(&event("create", "a"));
        log.record(&event("start", "a"));
        let mut actions = Vec::new();
        log.follow(Some(0), Some(now_nanos()), &EventFilter::default(), |e| {
            actions.push(e.action.clone());
            true
        })
        .unwrap();
        assert_eq!(actions, ["create", "start"]);
    }
}
