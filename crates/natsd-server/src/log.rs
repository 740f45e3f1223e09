//! Log lines in nats-server's format: `[pid] 2006/01/02 15:04:05.000000 [INF] text`.
//!
//! One process-wide logger: the level flags and the sink are set once at start (and may be
//! swapped by the binary), and every part of the server writes through [`Logger`].

use std::fmt::Arguments;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
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
    let time = CivilTime::new(at);
    format!("{}.{:06}", time.format('/', ' ', ':'), time.nanos / 1000)
}

/// A point in time as UTC calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
    pub nanos: u32,
}

impl CivilTime {
    pub fn new(at: SystemTime) -> Self {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        CivilTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: (rem / 60) % 60,
            second: rem % 60,
            nanos: since.subsec_nanos(),
        }
    }

    /// `YYYY<d>MM<d>DD<between>hh<t>mm<t>ss` with the given separators.
    pub fn format(&self, date_sep: char, between: char, time_sep: char) -> String {
        format!(
            "{:04}{date_sep}{:02}{date_sep}{:02}{between}{:02}{time_sep}{:02}{time_sep}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// A log file that rotates past a size limit, as nats-server's `log_size_limit` does: the
/// full file is renamed `<name>.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn` and a new one started; with
/// `max_num`, only that many files (the current one included) are kept.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: File,
    written: u64,
    limit: u64,
    max_num: u64,
}

impl FileSink {
    pub fn open(path: &Path, limit: u64, max_num: u64) -> io::Result<FileSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
            written,
            limit,
            max_num,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let now = CivilTime::new(SystemTime::now());
        let backup = PathBuf::from(format!(
            "{}.{}.{:09}",
            self.path.display(),
            now.format('.', '.', '.'),
            now.nanos
        ));
        std::fs::rename(&self.path, &backup)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        if self.max_num > 0 {
            self.purge()?;
        }
        Ok(())
    }

    /// Deletes the oldest backups beyond `max_num` files in all.
    fn purge(&self) -> io::Result<()> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Ok(());
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .collect();
        // The timestamp suffix sorts in time order.
        backups.sort();
        let keep = usize::try_from(self.max_num.saturating_sub(1)).unwrap_or(usize::MAX);
        let excess = backups.len().saturating_sub(keep);
        for old in backups.iter().take(excess) {
            std::fs::remove_file(old)?;
        }
        Ok(())
    }
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.limit > 0 && self.written >= self.limit {
            self.rotate()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
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
    fn log_files_rotate_and_old_ones_are_purged() {
        let dir = std::env::temp_dir().join(format!("natsd-log-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("natsd.log");
        let log = Logger::to(Box::new(FileSink::open(&path, 200, 3).unwrap()));
        for i in 0..40 {
            log.info(format_args!("line {i} of the rotation test"));
        }
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 3, "{files:?}");
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(
            current.len() < 200 && current.contains("line 39"),
            "{current}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timestamps_look_like_nats_server() {
        let at = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(timestamp(at), "2026/11/18 11:06:40.123456");
        assert_eq!(timestamp(UNIX_EPOCH), "1970/01/01 00:00:00.000000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000/02/29 00:00:00.000000");
    }
}
