//! Pull and push progress as Docker shows it: one line per blob that changes in place on a
//! terminal (an indicatif bar while bytes move), plain state lines otherwise.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use hull_engine::images::TransferEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether blobs are coming in or going out (the words differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `hull pull`, and `run`'s implicit pull.
    Pull,
    /// `hull push`.
    Push,
}

/// Renders blob events and status lines to stdout (`hull pull`/`push`) or stderr (`run`).
pub struct TransferDisplay {
    direction: Direction,
    to_stdout: bool,
    quiet: bool,
    terminal: bool,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// The last state line printed per blob (plain output prints each state once).
    printed: Mutex<HashMap<String, String>>,
}

impl TransferDisplay {
    /// A display for `direction` on stdout or stderr; `quiet` prints nothing.
    pub fn new(direction: Direction, to_stdout: bool, quiet: bool) -> Self {
        let terminal = if to_stdout {
            std::io::stdout().is_terminal()
        } else {
            std::io::stderr().is_terminal()
        };
        let target = if to_stdout {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::stderr()
        };
        Self {
            direction,
            to_stdout,
            quiet,
            terminal,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            printed: Mutex::new(HashMap::new()),
        }
    }

    /// A status line (`Digest: ...`), above any bars.
    pub fn line(&self, line: &str) {
        if self.quiet {
            return;
        }
        if self.terminal
            && !self
                .bars
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
        {
            let _ = self.multi.println(line);
            return;
        }
        self.write(line);
    }

    fn write(&self, line: &str) {
        if self.to_stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        } else {
            eprintln!("{line}");
        }
    }

    /// `blob` changed state.
    pub fn blob(&self, blob: &str, event: &TransferEvent) {
        if self.quiet {
            return;
        }
        let text = self.words(event);
        if self.terminal {
            self.draw(blob, event, &text);
            return;
        }
        // Plain output: a line per state change, never per byte count.
        if matches!(event, TransferEvent::Progress { .. }) {
            return;
        }
        let mut printed = self.printed.lock().unwrap_or_else(|e| e.into_inner());
        if printed.get(blob) != Some(&text) {
            self.write(&format!("{blob}: {text}"));
            printed.insert(blob.to_string(), text);
        }
    }

    fn draw(&self, blob: &str, event: &TransferEvent, text: &str) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars.entry(blob.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(blob.to_string());
            bar
        });
        match event {
            TransferEvent::Progress { done, total } => {
                if bar.length() != Some(*total) {
                    bar.set_length(*total);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg:12} [{bar:40}] {bytes}/{total_bytes}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                }
                bar.set_position(*done);
                bar.set_message(text.to_string());
            }
            _ => {
                bar.set_style(
                    ProgressStyle::with_template("{prefix}: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_message(text.to_string());
                bar.tick();
            }
        }
    }

    /// Leaves the final state of every bar on screen.
    pub fn finish(&self) {
        for bar in self.bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
            bar.finish();
        }
    }

    fn words(&self, event: &TransferEvent) -> String {
        let pull = self.direction == Direction::Pull;
        match event {
            TransferEvent::Waiting if pull => "Pulling fs layer".into(),
            TransferEvent::Waiting => "Preparing".into(),
            TransferEvent::AlreadyExists if pull => "Already exists".into(),
            TransferEvent::AlreadyExists => "Layer already exists".into(),
            TransferEvent::Progress { .. } if pull => "Downloading".into(),
            TransferEvent::Progress { .. } => "Pushing".into(),
            TransferEvent::Resuming { offset } => format!("Resuming at byte {offset}"),
            TransferEvent::Downloaded => "Download complete".into(),
            TransferEvent::Pushed => "Pushed".into(),
            TransferEvent::Mounted { from } => format!("Mounted from {from}"),
            TransferEvent::Complete => "Pull complete".into(),
        }
    }
}
