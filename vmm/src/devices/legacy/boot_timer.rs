//! hull's boot-timer port: the guest init writes `BOOT_TIMER_MAGIC` once userspace runs,
//! and the VMM logs how long that took since the VMM started.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::arch::x86_64::layout::BOOT_TIMER_MAGIC;
use crate::devices::PioDevice;

/// The boot-timer port device.
pub struct BootTimer {
    start: Instant,
    /// Milliseconds from `start` to the first mark (0 = not yet), shared with the VMM.
    reached_ms: Arc<AtomicU64>,
}

impl BootTimer {
    /// A timer counting from `start` (the VMM's start).
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            reached_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Shared handle on the measured time (0 until the guest marks it).
    pub fn reached_ms(&self) -> Arc<AtomicU64> {
        self.reached_ms.clone()
    }
}

impl PioDevice for BootTimer {
    fn pio_read(&mut self, _offset: u16, data: &mut [u8]) {
        data.fill(0);
    }

    fn pio_write(&mut self, offset: u16, data: &[u8]) {
        if offset == 0 && data.first() == Some(&BOOT_TIMER_MAGIC) {
            let elapsed = self.start.elapsed();
            let ms = u64::try_from(elapsed.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            self.reached_ms.store(ms, Ordering::Relaxed);
            tracing::info!(
                "guest userspace reached after {:.1} ms",
                elapsed.as_secs_f64() * 1000.0
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_magic_value_marks_the_time() {
        let mut timer = BootTimer::new(Instant::now());
        let reached = timer.reached_ms();
        timer.pio_write(0, &[1]);
        timer.pio_write(1, &[BOOT_TIMER_MAGIC]);
        assert_eq!(reached.load(Ordering::Relaxed), 0);
        timer.pio_write(0, &[BOOT_TIMER_MAGIC]);
        assert!(reached.load(Ordering::Relaxed) >= 1);
    }
}
