//! `hull logs`: the container's output from its log, stdout and stderr kept apart.

use crate::args::Globals;
use crate::supervisor::pump::LogRecord;
use anyhow::Result;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::time::Duration;

/// `hull logs` flags.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow log output until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// The container.
    pub container: String,
}

/// (stream, line) pieces of the records, each line with its newline.
fn split_lines(records: &[LogRecord]) -> Vec<(bool, String)> {
    let mut pieces: Vec<(bool, String)> = Vec::new();
    for record in records {
        let is_stderr = record.stream == "stderr";
        for piece in record.log.split_inclusive('\n') {
            // A chunk boundary in the middle of a line continues the previous piece.
            match pieces.last_mut() {
                Some((stream, text)) if *stream == is_stderr && !text.ends_with('\n') => {
                    text.push_str(piece);
                }
                _ => pieces.push((is_stderr, piece.to_string())),
            }
        }
    }
    pieces
}

fn emit(is_stderr: bool, text: &str) {
    if is_stderr {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// `hull logs`.
pub fn run(args: LogsArgs, globals: &Globals) -> Result<i32> {
    let store = super::containers(globals)?;
    let container = store.find_current(&args.container)?;
    let path = store.paths(&container.id).container_log();
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let mut reader = match std::fs::File::open(&path) {
        Ok(file) => BufReader::new(file),
        Err(_) if !args.follow => return Ok(0),
        Err(_) => {
            std::fs::File::create(&path)?;
            BufReader::new(std::fs::File::open(&path)?)
        }
    };
    let mut records = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        if let Ok(record) = serde_json::from_str::<LogRecord>(&line) {
            records.push(record);
        }
        line.clear();
    }
    let pieces = split_lines(&records);
    let skip = tail.map_or(0, |n| pieces.len().saturating_sub(n));
    for (is_stderr, text) in &pieces[skip..] {
        emit(*is_stderr, text);
    }
    if !args.follow {
        return Ok(0);
    }
    let mut position = reader.stream_position()?;
    loop {
        // A --rm container's files go with it when it ends: that ends the stream too.
        let Ok(mut file) = std::fs::File::open(&path) else {
            return Ok(0);
        };
        file.seek(SeekFrom::Start(position))?;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if !line.ends_with('\n') {
                break; // A record being written: read it whole next round.
            }
            position += line.len() as u64;
            if let Ok(record) = serde_json::from_str::<LogRecord>(&line) {
                emit(record.stream == "stderr", &record.log);
            }
            line.clear();
        }
        match store.find(&container.id).and_then(|c| store.reconcile(c)) {
            Ok(Some(now)) if now.is_running() => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                // One last read after the exit so nothing written just before is lost.
                let Ok(mut file) = std::fs::File::open(&path) else {
                    return Ok(0);
                };
                file.seek(SeekFrom::Start(position))?;
                for line in BufReader::new(file).lines().map_while(Result::ok) {
                    if let Ok(record) = serde_json::from_str::<LogRecord>(&line) {
                        emit(record.stream == "stderr", &record.log);
                    }
                }
                return Ok(0);
            }
        }
    }
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
    fn chunks_become_lines_per_stream() {
        let records = [
            record("stdout", "a\nb"),
            record("stdout", "c\n"),
            record("stderr", "e\n"),
            record("stdout", "d\n"),
        ];
        let lines = split_lines(&records);
        assert_eq!(
            lines,
            vec![
                (false, "a\n".to_string()),
                (false, "bc\n".to_string()),
                (true, "e\n".to_string()),
                (false, "d\n".to_string())
            ]
        );
    }
}
