//! `logs`: the container's output from its log (one JSON record per chunk, written by the
//! supervisor), stdout and stderr kept apart, optionally followed until the container ends.

use super::Containers;
use crate::error::Result;
use crate::supervisor::pump::LogRecord;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::time::Duration;

/// Which of the container's streams a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Its stdout (or its terminal).
    Stdout,
    /// Its stderr.
    Stderr,
}

impl LogStream {
    fn of(record: &LogRecord) -> Self {
        if record.stream == "stderr" {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        }
    }
}

/// What `logs` shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsRequest {
    /// Keep following the log until the container stops.
    pub follow: bool,
    /// Only the last this many lines of what is logged so far (all when None).
    pub tail: Option<usize>,
    /// Each line starts with the RFC 3339 time it was logged at and a space.
    pub timestamps: bool,
}

/// How often a followed log is read again.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

impl Containers {
    /// Hands the log of the container `reference` names to `sink`, line by line (as
    /// written, when following). A follow ends when `sink` returns false (its reader left).
    pub fn logs(
        &self,
        reference: &str,
        request: LogsRequest,
        sink: &mut dyn FnMut(LogStream, &str) -> bool,
    ) -> Result<()> {
        let reader_left = std::cell::Cell::new(false);
        let mut sink = |stream: LogStream, text: &str| {
            if !reader_left.get() && !sink(stream, text) {
                reader_left.set(true);
            }
        };
        let sink = &mut sink;
        let container = self.find(reference)?;
        let path = self.store.paths(&container.id).container_log();
        let mut reader = match std::fs::File::open(&path) {
            Ok(file) => BufReader::new(file),
            Err(_) if !request.follow => return Ok(()),
            Err(_) => {
                std::fs::File::create(&path)?;
                BufReader::new(std::fs::File::open(&path)?)
            }
        };
        let mut records = Vec::new();
        let mut line = String::new();
        while let read @ 1.. = reader.read_line(&mut line)? {
            if !line.ends_with('\n') {
                // Still being written: a follow reads it whole later.
                reader.seek(SeekFrom::Current(-i64::try_from(read).unwrap_or(i64::MAX)))?;
                break;
            }
            if let Ok(record) = serde_json::from_str::<LogRecord>(&line) {
                records.push(record);
            }
            line.clear();
        }
        let pieces = split_lines(&records, request.timestamps);
        let skip = request.tail.map_or(0, |n| pieces.len().saturating_sub(n));
        for (stream, text) in &pieces[skip..] {
            sink(*stream, text);
        }
        if !request.follow {
            return Ok(());
        }
        // The open file is read to its end even after a removal (`--rm`, or a client that
        // removes the container as soon as `wait` answers, as docker-py's `run` does).
        loop {
            read_complete_records(&mut reader, request.timestamps, sink)?;
            if reader_left.get() {
                return Ok(());
            }
            match self
                .store
                .find(&container.id)
                .and_then(|c| self.store.reconcile(c))
            {
                Ok(Some(now)) if now.is_running() => std::thread::sleep(FOLLOW_INTERVAL),
                _ => {
                    // One last read after the exit so nothing written just before is lost.
                    read_complete_records(&mut reader, request.timestamps, sink)?;
                    return Ok(());
                }
            }
        }
    }
}

/// Hands the whole records from `reader`'s position on to `sink`; a record still being
/// written is left for the next call.
fn read_complete_records(
    reader: &mut BufReader<std::fs::File>,
    timestamps: bool,
    sink: &mut dyn FnMut(LogStream, &str),
) -> Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') {
            let back = i64::try_from(read).unwrap_or(i64::MAX);
            reader.seek(SeekFrom::Current(-back))?;
            return Ok(());
        }
        if let Ok(record) = serde_json::from_str::<LogRecord>(&line) {
            emit_record(&record, timestamps, sink);
        }
    }
}

/// Hands one record written while following to `sink` (with `timestamps`, each of its
/// lines starts with the record's time).
fn emit_record(record: &LogRecord, timestamps: bool, sink: &mut dyn FnMut(LogStream, &str)) {
    let stream = LogStream::of(record);
    if !timestamps {
        return sink(stream, &record.log);
    }
    for piece in record.log.split_inclusive('\n') {
        sink(stream, &format!("{} {piece}", record.time));
    }
}

/// (stream, line) pieces of the records, each line with its newline (and, with
/// `timestamps`, the time of the record it starts in).
fn split_lines(records: &[LogRecord], timestamps: bool) -> Vec<(LogStream, String)> {
    let mut pieces: Vec<(LogStream, String)> = Vec::new();
    for record in records {
        let stream = LogStream::of(record);
        for piece in record.log.split_inclusive('\n') {
            // A chunk boundary in the middle of a line continues the previous piece.
            match pieces.last_mut() {
                Some((last, text)) if *last == stream && !text.ends_with('\n') => {
                    text.push_str(piece);
                }
                _ if timestamps => pieces.push((stream, format!("{} {piece}", record.time))),
                _ => pieces.push((stream, piece.to_string())),
            }
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stream: &str, log: &str) -> LogRecord {
        LogRecord {
            stream: stream.into(),
            log: log.into(),
            time: String::new(),
        }
    }

    #[test]
    fn timestamps_start_each_line_with_the_time_its_first_chunk_was_logged() {
        let mut first = record("stdout", "a\nb");
        first.time = "T1".into();
        let mut second = record("stdout", "c\n");
        second.time = "T2".into();
        let lines = split_lines(&[first, second], true);
        assert_eq!(
            lines,
            vec![
                (LogStream::Stdout, "T1 a\n".to_string()),
                (LogStream::Stdout, "T1 bc\n".to_string()),
            ]
        );
    }

    #[test]
    fn chunks_become_lines_per_stream() {
        let records = [
            record("stdout", "a\nb"),
            record("stdout", "c\n"),
            record("stderr", "e\n"),
            record("stdout", "d\n"),
        ];
        let lines = split_lines(&records, false);
        assert_eq!(
            lines,
            vec![
                (LogStream::Stdout, "a\n".to_string()),
                (LogStream::Stdout, "bc\n".to_string()),
                (LogStream::Stderr, "e\n".to_string()),
                (LogStream::Stdout, "d\n".to_string())
            ]
        );
    }
}
