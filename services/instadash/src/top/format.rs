//! Figures for people, short enough for table cells: `1.2k/s`, `120 MiB`, `12.3ms`, `3m12s`.

/// A rate: `0/s`, `3.4/s`, `120/s`, `1.2k/s`, `45k/s`, `1.5M/s`.
pub fn rate(per_s: f64) -> String {
    format!("{}/s", scaled(per_s, true))
}

/// A count: `0`, `987`, `1.2k`, `45k`, `1.5M`.
pub fn count(n: u64) -> String {
    scaled(n as f64, false)
}

/// `v` with a k/M/G suffix past 1000; below 10, rates keep one decimal.
fn scaled(v: f64, decimals_below_ten: bool) -> String {
    if !v.is_finite() || v <= 0.0 {
        return "0".into();
    }
    if v < 1000.0 {
        return if decimals_below_ten && v < 9.95 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        };
    }
    let (value, unit) = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(scale, _)| v >= *scale)
        .map(|(scale, unit)| (v / scale, unit))
        .unwrap_or((v, ""));
    if value < 99.95 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `120 MiB`, `1.6 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A duration given in microseconds: `850µs`, `12.3ms`, `230ms`, `1.20s`.
pub fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us}µs")
    } else if us < 100_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else if us < 1_000_000 {
        format!("{}ms", us / 1000)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// An age given in milliseconds: `0s`, `45s`, `3m12s`, `2h05m`, `3d04h`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A polling interval given in milliseconds: `500ms`, `1s`, `2.5s`.
pub fn interval(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// The UTC time of day of a Unix time in ms: `12:34:56 UTC`.
pub fn clock(unix_ms: u64) -> String {
    let s = unix_ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s % 3600 / 60, s % 60)
}

/// A CPU share in percent: `0.4`, `12`, `180`.
pub fn percent(pct: f64) -> String {
    if pct < 9.95 {
        format!("{pct:.1}")
    } else {
        format!("{pct:.0}")
    }
}

/// The last `width` values as block characters, scaled to their maximum: zero is the baseline
/// `▁`, the maximum a full block `█`.
pub fn sparkline(history: &[u64], width: usize) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let shown = &history[history.len().saturating_sub(width)..];
    let max = shown.iter().copied().max().unwrap_or(0);
    shown
        .iter()
        .map(|&v| {
            if max == 0 {
                LEVELS[0]
            } else {
                let level = (v as f64 / max as f64 * 7.0).round() as usize;
                LEVELS[level.min(7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_rates_and_counts_are_short() {
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(0.25), "0.2/s");
        assert_eq!(rate(3.44), "3.4/s");
        assert_eq!(rate(120.4), "120/s");
        assert_eq!(rate(1234.0), "1.2k/s");
        assert_eq!(rate(45_600.0), "45.6k/s");
        assert_eq!(rate(456_000.0), "456k/s");
        assert_eq!(rate(1_500_000.0), "1.5M/s");
        assert_eq!(rate(f64::NAN), "0/s");
        assert_eq!(count(0), "0");
        assert_eq!(count(7), "7");
        assert_eq!(count(987), "987");
        assert_eq!(count(1234), "1.2k");
        assert_eq!(count(2_000_000_000), "2.0G");
    }

    #[test]
    fn top_sizes_durations_and_ages() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(120 * 1024 * 1024), "120 MiB");
        assert_eq!(bytes(1717986918), "1.6 GiB");
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(230_000), "230ms");
        assert_eq!(micros(1_200_000), "1.20s");
        assert_eq!(age(999), "0s");
        assert_eq!(age(45_000), "45s");
        assert_eq!(age(192_000), "3m12s");
        assert_eq!(age(7_500_000), "2h05m");
        assert_eq!(age(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
        assert_eq!(interval(500), "500ms");
        assert_eq!(interval(1000), "1s");
        assert_eq!(interval(2500), "2.5s");
        assert_eq!(clock(1_700_000_000_000), "22:13:20 UTC");
        assert_eq!(percent(0.42), "0.4");
        assert_eq!(percent(180.2), "180");
    }

    #[test]
    fn top_sparkline_scales_to_the_maximum() {
        assert_eq!(sparkline(&[], 8), "");
        assert_eq!(sparkline(&[0, 0, 0], 8), "▁▁▁");
        assert_eq!(sparkline(&[0, 50, 100], 8), "▁▅█");
        // Only the newest `width` values are drawn.
        assert_eq!(sparkline(&[1000, 0, 1, 2], 3), "▁▅█");
    }
}
