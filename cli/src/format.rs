//! Docker's output conventions: tab-aligned tables, "2 minutes ago", "4.26MB", "1.5MiB".

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

/// [`table`] of the verb's rows (each a serialized object, its fields strings or numbers):
/// one column per `(field, title)` of `columns`, in their order.
pub fn fields_table(columns: &[(&str, &str)], rows: &[serde_json::Value]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|(field, _)| match &row[field] {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let titles: Vec<&str> = columns.iter().map(|(_, title)| *title).collect();
    table(&titles, &cells)
}

pub use hull_engine::container::status::ago;

/// Docker's `units.HumanSize`: decimal units, 4 significant digits ("4.26MB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
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

/// Docker's `units.BytesSize`: binary units, 4 significant digits ("1.5MiB"), as
/// `docker stats` shows memory.
pub fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    // Four significant digits, as Docker's `units.BytesSize` (`%.4g`).
    // The integer part's digits (`{:.0}` would round 9.7 up to "10" and lose a digit).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let digits_before_point = (value.trunc() as u64).to_string().len();
    let text = format!(
        "{value:.prec$}",
        prec = 4usize.saturating_sub(digits_before_point)
    );
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
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
    fn sizes_read_like_dockers() {
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(2048), "2.048kB");
        assert_eq!(human_size(10_240), "10.24kB");
    }

    #[test]
    fn memory_reads_in_dockers_binary_units() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1536 * 1024), "1.5MiB");
        assert_eq!(binary_size(64 << 20), "64MiB");
        assert_eq!(binary_size(23_154_688), "22.08MiB");
        assert_eq!(binary_size(1000), "1000B");
        // 9.7123 MiB: four significant digits, as Docker's %.4g.
        assert_eq!(binary_size(10_184_000), "9.712MiB");
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
