//! The sentence an operator reads for each alert.

/// "14 s", "5 min 12 s", "1 h 3 min": rounded to the second, the largest two units.
pub fn duration(ms: i64) -> String {
    let total_s = (ms.max(0) + 500) / 1000;
    let (h, m, s) = (total_s / 3600, total_s / 60 % 60, total_s % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// "92 km/h in a 50 zone for 14 s" (the contract's own example).
pub fn overspeed(speed_kmh: f64, limit_kmh: f64, for_ms: i64) -> String {
    format!(
        "{speed_kmh:.0} km/h in a {limit_kmh:.0} zone for {}",
        duration(for_ms)
    )
}

/// "Harsh braking from 62 to 40 km/h in 1.0 s (0.62 g)".
pub fn harsh(what: &str, from_kmh: f64, to_kmh: f64, over_ms: i64, g: f64) -> String {
    format!(
        "{what} from {from_kmh:.0} to {to_kmh:.0} km/h in {:.1} s ({:.2} g)",
        over_ms as f64 / 1000.0,
        g.abs()
    )
}

/// "Idling for 5 min 1 s".
pub fn idling(for_ms: i64) -> String {
    format!("Idling for {}", duration(for_ms))
}

/// "Engine fault: P0301, P0171 (malfunction lamp on)", "Engine fault: 2 stored trouble codes",
/// "Engine fault: malfunction lamp on".
pub fn engine_fault(codes: &[String], code_count: Option<u32>, mil_on: bool) -> String {
    let lamp = if mil_on { " (malfunction lamp on)" } else { "" };
    if !codes.is_empty() {
        format!("Engine fault: {}{lamp}", codes.join(", "))
    } else if let Some(count @ 1..) = code_count {
        let plural = if count == 1 { "" } else { "s" };
        format!("Engine fault: {count} stored trouble code{plural}{lamp}")
    } else {
        "Engine fault: malfunction lamp on".to_owned()
    }
}

/// "Coolant at 114 °C (over 110 °C)".
pub fn coolant(coolant_c: f64, max_c: f64) -> String {
    format!("Coolant at {coolant_c:.0} °C (over {max_c:.0} °C)")
}

/// "Entered Depot" / "Left Depot".
pub fn geofence(entered: bool, name: &str) -> String {
    if entered {
        format!("Entered {name}")
    } else {
        format!("Left {name}")
    }
}

/// "Silent for 10 min 12 s", or without a last sighting "Stopped reporting".
pub fn silent(for_ms: Option<i64>) -> String {
    match for_ms {
        Some(ms) => format!("Silent for {}", duration(ms)),
        None => "Stopped reporting".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(14_400), "14 s");
        assert_eq!(duration(59_600), "1 min");
        assert_eq!(duration(301_000), "5 min 1 s");
        assert_eq!(duration(3_600_000), "1 h");
        assert_eq!(duration(3_790_000), "1 h 3 min");
        assert_eq!(duration(-5), "0 s");
    }

    #[test]
    fn messages_read_naturally() {
        assert_eq!(
            overspeed(92.4, 50.0, 14_000),
            "92 km/h in a 50 zone for 14 s"
        );
        assert_eq!(
            harsh("Harsh braking", 62.0, 40.0, 1_000, -0.62),
            "Harsh braking from 62 to 40 km/h in 1.0 s (0.62 g)"
        );
        assert_eq!(
            engine_fault(&["P0301".into(), "P0171".into()], Some(2), true),
            "Engine fault: P0301, P0171 (malfunction lamp on)"
        );
        assert_eq!(
            engine_fault(&[], Some(1), false),
            "Engine fault: 1 stored trouble code"
        );
        assert_eq!(
            engine_fault(&[], None, true),
            "Engine fault: malfunction lamp on"
        );
        assert_eq!(coolant(114.0, 110.0), "Coolant at 114 °C (over 110 °C)");
        assert_eq!(silent(Some(612_000)), "Silent for 10 min 12 s");
    }
}
