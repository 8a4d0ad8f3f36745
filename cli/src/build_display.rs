//! `hull build`'s display on stderr, as BuildKit's: numbered step lines (`--progress
//! plain`), a spinner per step on a terminal, nothing but the id with `-q`.

use hull_engine::build::BuildProgress;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the build is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-q`: nothing but the id at the end.
    Quiet,
    /// `--progress plain`: numbered lines.
    Plain,
    /// A terminal: a spinner per step.
    Tty,
}

/// The build's display on stderr.
pub struct BuildDisplay {
    mode: Mode,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The running step: number, title, when it began, its output so far.
    current: Option<(usize, String, Instant, Vec<u8>)>,
    bar: Option<indicatif::ProgressBar>,
    /// Output not yet ended by a newline (plain mode prefixes whole lines).
    partial: Vec<u8>,
    last_step: usize,
}

impl BuildDisplay {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn eprint(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }

    pub fn finish_bar(&self) {
        if let Some(bar) = self.lock().bar.take() {
            bar.finish_and_clear();
        }
    }

    /// A failed step shows its output (a terminal folded it away).
    pub fn failed(&self) {
        let state = self.lock();
        if let (Mode::Tty, Some((number, title, _, output))) = (self.mode, &state.current) {
            let mut text = format!("=> ERROR {title}\n");
            for line in String::from_utf8_lossy(output).lines() {
                text.push_str(&format!("#{number} {line}\n"));
            }
            self.eprint(&text);
        }
    }

    pub fn wrote(&self, id: &str, tags: &[String]) {
        if self.mode == Mode::Quiet {
            return;
        }
        let step = self.lock().last_step + 1;
        let mut text = match self.mode {
            Mode::Plain => format!("#{step} exporting to image\n#{step} writing image {id} done\n"),
            _ => format!("=> exporting to image\n=> => writing image {id}\n"),
        };
        for tag in tags {
            let name = hull_rootfs::normalize_reference(tag).unwrap_or_else(|_| tag.clone());
            text.push_str(&match self.mode {
                Mode::Plain => format!("#{step} naming to docker.io/library/{name} done\n"),
                _ => format!("=> => naming to docker.io/library/{name}\n"),
            });
        }
        if self.mode == Mode::Plain {
            text.push_str(&format!(
                "#{step} DONE {:.1}s\n",
                self.started.elapsed().as_secs_f64()
            ));
        }
        self.eprint(&text);
    }
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}

impl hull_rootfs::Progress for BuildDisplay {}
impl hull_engine::images::ImageProgress for BuildDisplay {}

impl BuildProgress for BuildDisplay {
    fn step_started(&self, number: usize, title: &str) {
        let mut state = self.lock();
        state.last_step = number;
        state.current = Some((number, title.to_string(), Instant::now(), Vec::new()));
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => self.eprint(&format!("#{number} {title}\n")),
            Mode::Tty => {
                let bar = indicatif::ProgressBar::new_spinner().with_style(
                    indicatif::ProgressStyle::with_template("=> {msg} {elapsed}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar.set_message(title.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Some(old) = state.bar.replace(bar) {
                    old.finish_and_clear();
                }
            }
        }
    }

    fn step_cached(&self, number: usize) {
        let mut state = self.lock();
        let title = state.current.take().map(|c| c.1).unwrap_or_default();
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => self.eprint(&format!("#{number} CACHED\n\n")),
            Mode::Tty => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
                self.eprint(&format!("=> CACHED {title}\n"));
            }
        }
    }

    fn step_output(&self, number: usize, bytes: &[u8]) {
        let mut state = self.lock();
        if let Some(current) = state.current.as_mut() {
            current.3.extend_from_slice(bytes);
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let at = state
                    .current
                    .as_ref()
                    .map_or(Duration::ZERO, |c| c.2.elapsed());
                state.partial.extend_from_slice(bytes);
                let mut text = String::new();
                while let Some(end) = state.partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = state.partial.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    text.push_str(&format!("#{number} {:.3} {line}\n", at.as_secs_f64()));
                }
                self.eprint(&text);
            }
            Mode::Tty => {
                let last = String::from_utf8_lossy(bytes)
                    .lines()
                    .rfind(|l| !l.trim().is_empty())
                    .map(|l| l.chars().take(60).collect::<String>());
                if let (Some(bar), Some(line), Some(current)) = (&state.bar, last, &state.current) {
                    bar.set_message(format!("{}\n   {line}", current.1));
                }
            }
        }
    }

    fn step_done(&self, number: usize, elapsed: Duration) {
        let mut state = self.lock();
        let title = state.current.take().map(|c| c.1).unwrap_or_default();
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let rest = std::mem::take(&mut state.partial);
                let mut text = String::new();
                if !rest.is_empty() {
                    text.push_str(&format!("#{number} {}\n", String::from_utf8_lossy(&rest)));
                }
                text.push_str(&format!("#{number} DONE {}\n\n", seconds(elapsed)));
                self.eprint(&text);
            }
            Mode::Tty => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
                self.eprint(&format!("=> {title} {}\n", seconds(elapsed)));
            }
        }
    }

    fn warning(&self, text: &str) {
        if self.mode != Mode::Quiet {
            self.eprint(&format!("[Warning] {text}\n"));
        }
    }
}
