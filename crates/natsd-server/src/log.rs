//! Log lines in nats-server's format: `[pid] 2006/01/02 15:04:05.000000 [INF] text`.
//!
//! One process-wide logger: the level flags and the sink are set once at start (and may be
//! swapped by the binary), and every part of the server writes through [`Logger`].

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Fatal => "[FTL]",
            Level::Error => "[ERR]",
            Level::Warn => "[WRN]",
            Level::Info => "[INF]",
            Level::Debug => "[DBG]",
            Level::Trace => "[TRC]",
        }
    }
}

/// Where log lines go and which ones are written.
pub struct Logger {
    debug: AtomicBool,
    trace: AtomicBool,
    timestamps: AtomicBool,
    sink: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("debug", &self.debug)
            .field("trace", &self.trace)
            .finish()
    }
}

impl Logger {
    pub fn stderr() -> Self {
        Logger::to(Box::new(std::io::stderr()))
    }

    pub fn to(sink: Box<dyn Write + Send>) -> Self {
        Logger {
            debug: AtomicBool::new(false),
            trace: AtomicBool::new(false),
            timestamps: AtomicBool::new(true),
            sink: Mutex::new(sink),
        }
    }

    pub fn set_levels(&self, debug: bool, trace: bool, timestamps: bool) {
        self.debug.store(debug, Ordering::Relaxed);
        self.trace.store(trace, Ordering::Relaxed);
        self.timestamps.store(timestamps, Ordering::Relaxed);
    }

    pub fn set_sink(&self, sink: Box<dyn Write + Send>) {
        *self.sink.lock() = sink;
    }

    pub fn enabled(&self, level: Level) -> bool {
        match level {
            Level::Debug => self.debug.load(Ordering::Relaxed),
            Level::Trace => self.trace.load(Ordering::Relaxed),
            _ => true,
        }
    }

    pub fn log(&self, level: Level, args: Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let mut line = format!("[{}] ", std::process::id());
        if self.timestamps.load(Ordering::Relaxed) {
            line.push_str(&timestamp(SystemTime::now()));
            line.push(' ');
        }
        line.push_str(level.tag());
        line.push(' ');
        line.push_str(&args.to_string());
        line.push('\n');
        let mut sink = self.sink.lock();
        // A log sink that fails has nowhere to report to; the server keeps running.
        let _ = sink.write_all(line.as_bytes());
        let _ = sink.flush();
    }

    pub fn info(&self, args: Arguments<'_>) {
        self.log(Level::Info, args);
    }

    pub fn warn(&self, args: Arguments<'_>) {
        self.log(Level::Warn, args);
    }

    pub fn error(&self, args: Arguments<'_>) {
        self.log(Level::Error, args);
    }

    pub fn debug(&self, args: Arguments<'_>) {
        self.log(Level::Debug, args);
    }

    pub fn trace(&self, args: Arguments<'_>) {
        self.log(Level::Trace, args);
    }
}

/// `2006/01/02 15:04:05.000000` in UTC.
pub fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}/{month:02}/{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_look_like_nats_server() {
        let at = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(timestamp(at), "2026/11/18 11:06:40.123456");
        assert_eq!(timestamp(UNIX_EPOCH), "1970/01/01 00:00:00.000000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000/02/29 00:00:00.000000");
    }
}
