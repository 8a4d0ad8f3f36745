//! Docker's output conventions: tab-aligned tables, "2 minutes ago", "4.26MB".

use std::time::{Duration, SystemTime};

/// Prints `rows` under `headers` as Docker's tabwriter does (minimum cell width 10,
/// padding 3): each column as wide as its widest cell plus 3 spaces, at least 10.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    table_with_min_width(headers, rows, 10)
}

/// [`table`] with another minimum cell width (`docker top` uses 20).
pub fn table_with_min_width(headers: &[&str], rows: &[Vec<String>], min: usize) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        let last = cells.len().saturating_sub(1);
        for (index, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if index < last {
                let pad = (widths[index] + 3).max(min) - cell.chars().count();
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds < 60 => plural(seconds, "second"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => plural(minutes, "minute"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => plural(hours, "hour"),
        _ if hours < 24 * 7 * 2 => plural(hours / 24, "day"),
        _ if hours < 24 * 30 * 2 => plural(hours / 24 / 7, "week"),
        _ if hours < 24 * 365 * 2 => plural(hours / 24 / 30, "month"),
        _ => plural(hours / 24 / 365, "year"),
    }
}

/// "N units ago" for an RFC 3339 time (empty if it does not parse).
pub fn ago(rfc3339: &str) -> String {
    since(rfc3339)
        .map(|d| format!("{} ago", human_duration(d)))
        .unwrap_or_default()
}

/// Time elapsed since an RFC 3339 time.
pub fn since(rfc3339: &str) -> Option<Duration> {
    let then = hull_engine::container::state::parse_time(rfc3339)?;
    Some(SystemTime::now().duration_since(then).unwrap_or_default())
}

/// Docker's `units.HumanSize`: decimal units, 4 significant digits ("4.26MB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    // Sizes are far below 2^52: the conversion to f64 is exact enough for display.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = format!("{value:.4}");
    let digits_before_point = text.find('.').unwrap_or(text.len());
    let keep = format!(
        "{value:.prec$}",
        prec = 4usize.saturating_sub(digits_before_point)
    );
    let trimmed = if keep.contains('.') {
        keep.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        keep
    };
    format!("{trimmed}{}", UNITS[unit])
}

/// Shortens `text` to `max` characters with an ellipsis, like `ps`'s COMMAND column.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(3)), "3 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(150)), "2 minutes");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
    }

    #[test]
    fn tables_align_columns() {
        let out = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(out, "A         LONGER\nxyz       1\n");
        let wide = table(
            &["CONTAINER ID", "X"],
            &[vec!["0123456789abcdef".into(), "1".into()]],
        );
        assert_eq!(wide, "CONTAINER ID       X\n0123456789abcdef   1\n");
    }
}
