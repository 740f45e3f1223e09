//! Times and durations written the way nats-server's monitoring JSON writes them.

use std::time::{Duration, SystemTime};

/// RFC 3339 with nanoseconds and trailing zeros dropped, in UTC: Go's `time.RFC3339Nano`.
pub fn rfc3339(at: SystemTime) -> String {
    let time = crate::log::CivilTime::new(at);
    let mut text = time.format('-', 'T', ':');
    if time.nanos > 0 {
        let digits = format!("{:09}", time.nanos);
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// nats-server's uptime and idle format: `0s`, `1m2s`, `3h0m4s`, `2d1h0m0s`, `1y2d...`.
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{}s",
            days % 365,
            hours % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hours % 24, mins % 60, secs % 60)
    } else if hours > 0 {
        format!("{hours}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// Go's `time.Duration.String()`: `0s`, `584µs`, `1.5ms`, `2m3.5s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return with_fraction(nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return with_fraction(nanos, 1_000_000, "ms");
    }
    let secs = d.as_secs();
    let (hours, mins) = (secs / 3600, (secs / 60) % 60);
    let seconds = with_fraction(nanos % 60_000_000_000, 1_000_000_000, "s");
    match (hours, mins) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

fn with_fraction(nanos: u128, unit: u128, suffix: &str) -> String {
    let whole = nanos / unit;
    let fraction = nanos % unit;
    if fraction == 0 {
        return format!("{whole}{suffix}");
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}{suffix}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn formats_match_go() {
        let at = UNIX_EPOCH + Duration::new(1_795_680_590, 924_264_400);
        assert_eq!(rfc3339(at), "2026-11-26T08:09:50.9242644Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(uptime(Duration::from_secs(0)), "0s");
        assert_eq!(uptime(Duration::from_secs(62)), "1m2s");
        assert_eq!(uptime(Duration::from_secs(3 * 3600 + 4)), "3h0m4s");
        assert_eq!(uptime(Duration::from_secs(400 * 86_400)), "1y35d0h0m0s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(584_000)), "584µs");
        assert_eq!(go_duration(Duration::from_nanos(584_123)), "584.123µs");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_millis(123_500)), "2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_nanos(12)), "12ns");
    }
}
