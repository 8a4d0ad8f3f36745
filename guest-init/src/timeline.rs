//! Boot-time marks of PID 1 (CLOCK_BOOTTIME, milliseconds since the kernel started), printed
//! as one line on ttyS0 before power-off: where the guest's time goes, at the cost of one
//! console line instead of one per step (every byte on the emulated UART costs).

use std::sync::Mutex;

static MARKS: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());

/// Records that `step` is reached now.
pub fn mark(step: &'static str) {
    if let Some(ms) = boot_time_ms() {
        MARKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((step, ms));
    }
}

/// Every mark so far as `step=ms` pairs, in order.
pub fn summary() -> String {
    MARKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|(step, ms)| format!("{step}={ms}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Milliseconds since the kernel started (CLOCK_BOOTTIME).
pub fn boot_time_ms() -> Option<u64> {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let ms = now.tv_sec() * 1000 + now.tv_nsec() / 1_000_000;
    u64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_listed_in_order_with_times() {
        mark("first");
        mark("second");
        let text = summary();
        let first = text.find("first=").expect("first mark listed");
        let second = text.find("second=").expect("second mark listed");
        assert!(first < second, "{text}");
    }
}
