//! The hand-over between a pull's download and the store's conversion running beside it:
//! the store waits here for each blob of the layout the download is filling, so a layer
//! converts while the next ones are still on the wire.

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Blobs appear in the layout by link or rename, not through here: a waiter looks again this
/// often.
const POLL: Duration = Duration::from_millis(5);

/// Where the download is: layout written, finished (either way).
#[derive(Default)]
pub(super) struct Arrivals {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    layout_ready: bool,
    finished: bool,
}

impl Arrivals {
    /// The layout's index, manifest and config are in place.
    pub(super) fn layout_ready(&self) {
        self.state().layout_ready = true;
        self.changed.notify_all();
    }

    /// The download ended, with every blob or with an error.
    pub(super) fn finished(&self) {
        self.state().finished = true;
        self.changed.notify_all();
    }

    /// Blocks until the layout is ready (true) or the download ended without it (false).
    pub(super) fn wait_for_layout(&self) -> bool {
        let mut state = self.state();
        while !state.layout_ready && !state.finished {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.layout_ready
    }

    /// Blocks until `file` exists (true) or the download ended without it (false).
    pub(super) fn wait_for_file(&self, file: &Path) -> bool {
        let mut state = self.state();
        loop {
            if file.exists() {
                return true;
            }
            if state.finished {
                return file.exists();
            }
            state = self
                .changed
                .wait_timeout(state, POLL)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_sees_a_file_that_arrives_and_gives_up_once_the_download_ends() {
        let dir = tempfile::tempdir().unwrap();
        let arrivals = Arrivals::default();
        let early = dir.path().join("early");
        let never = dir.path().join("never");
        std::thread::scope(|scope| {
            let layout = scope.spawn(|| arrivals.wait_for_layout());
            let waiter = scope.spawn(|| {
                (
                    arrivals.wait_for_file(&early),
                    arrivals.wait_for_file(&never),
                )
            });
            std::thread::sleep(Duration::from_millis(20));
            arrivals.layout_ready();
            std::fs::write(&early, b"blob").unwrap();
            std::thread::sleep(Duration::from_millis(20));
            arrivals.finished();
            assert!(layout.join().unwrap());
            assert_eq!(waiter.join().unwrap(), (true, false));
        });
    }

    #[test]
    fn a_download_that_fails_before_the_layout_releases_the_converter() {
        let arrivals = Arrivals::default();
        arrivals.finished();
        assert!(!arrivals.wait_for_layout());
    }
}
