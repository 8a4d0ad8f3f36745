//! Image progress on the terminal: an indicatif bar, and Docker's "Unable to find image"
//! notice, only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

use crate::transfers::{Direction, TransferDisplay};

/// An indicatif bar on a terminal (silent otherwise), and a pull's or push's progress.
pub struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
    transfers: TransferDisplay,
}

impl TerminalProgress {
    /// A reporter that draws only when stderr is a terminal; an implicit pull (`run`,
    /// `create`, `build`) reports on stderr, as Docker's.
    pub fn new() -> Self {
        Self::with_transfers(TransferDisplay::new(Direction::Pull, false, false))
    }

    /// A reporter whose pull or push lines go to `transfers`.
    pub fn with_transfers(transfers: TransferDisplay) -> Self {
        Self {
            bar: Mutex::new(None),
            enabled: std::io::stderr().is_terminal(),
            transfers,
        }
    }

    /// Leaves the final state of a pull's or push's lines on screen.
    pub fn finish_transfers(&self) {
        self.transfers.finish();
    }
}

impl hull_rootfs::Progress for TerminalProgress {
    fn start(&self, task: &str, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg:30} [{bar:30}] {bytes}/{total_bytes} {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(task.to_string());
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.inc(bytes);
        }
    }

    fn message(&self, message: &str) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.set_message(message.chars().take(60).collect::<String>());
            bar.tick();
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl hull_engine::images::ImageProgress for TerminalProgress {
    fn missing_locally(&self, reference: &str) {
        if self.enabled {
            eprintln!("Unable to find image '{reference}' locally");
        }
    }

    fn pull_status(&self, line: &str) {
        self.transfers.line(line);
    }

    fn transfer(&self, blob: &str, event: &hull_engine::images::TransferEvent) {
        self.transfers.blob(blob, event);
    }
}
