//! Log lines in nats-server's format: `[pid] 2006/01/02 15:04:05.000000 [INF] text`.
//!
//! One process-wide logger: the level flags and the sink are set once at start (and may be
//! swapped by the binary), and every part of the server writes through [`Logger`].
//!
//! A log line is formatted where it is logged and handed to a writer thread through a
//! bounded queue, so that a slow sink (a full pipe, a busy disk) never stalls a connection's
//! task. When the queue is full the line is dropped and counted; the writer notes how many
//! were dropped once it catches up.

use std::fmt::Arguments;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines waiting for the writer before new ones are dropped. The queue grows in small
/// blocks as lines come, so an idle server holds none of this room.
const QUEUE_LINES: usize = 16384;

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

/// What the logger and its writer thread share.
#[derive(Debug, Default)]
struct Shared {
    debug: AtomicBool,
    trace: AtomicBool,
    timestamps: AtomicBool,
    /// Lines queued and not yet taken by the writer.
    queued: AtomicUsize,
    /// Lines dropped since the writer last reported them.
    unreported_drops: AtomicU64,
    /// Lines dropped since start.
    drops: AtomicU64,
}

impl Shared {
    fn line(&self, level: Level, args: Arguments<'_>) -> String {
        use std::fmt::Write as _;
        let mut line = format!("[{}] ", std::process::id());
        if self.timestamps.load(Ordering::Relaxed) {
            line.push_str(&timestamp(SystemTime::now()));
            line.push(' ');
        }
        line.push_str(level.tag());
        line.push(' ');
        let _ = line.write_fmt(args);
        line.push('\n');
        line
    }
}

/// What the writer thread is asked to do, in order.
enum Entry {
    Line(String),
    Sink(Box<dyn Write + Send>),
    /// Answered once everything queued before it is written and flushed.
    Flush(SyncSender<()>),
}

/// Where log lines go and which ones are written.
pub struct Logger {
    shared: Arc<Shared>,
    queue: Sender<Entry>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("debug", &self.shared.debug)
            .field("trace", &self.shared.trace)
            .finish()
    }
}

impl Logger {
    pub fn stderr() -> Self {
        Logger::to(Box::new(std::io::stderr()))
    }

    /// A logger writing to `sink` from its own thread.
    pub fn to(sink: Box<dyn Write + Send>) -> Self {
        let shared = Arc::new(Shared {
            timestamps: AtomicBool::new(true),
            ..Shared::default()
        });
        let (queue, entries) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("natsd-log".into())
            .spawn(move || write_entries(&entries, sink, &writer_shared));
        if let Err(error) = spawned {
            // Without a writer every line is dropped (and counted); the server still runs.
            eprintln!("natsd: cannot start the log writer: {error}");
        }
        Logger { shared, queue }
    }

    pub fn set_levels(&self, debug: bool, trace: bool, timestamps: bool) {
        self.shared.debug.store(debug, Ordering::Relaxed);
        self.shared.trace.store(trace, Ordering::Relaxed);
        self.shared.timestamps.store(timestamps, Ordering::Relaxed);
    }

    /// Lines after those already logged go to `sink`.
    pub fn set_sink(&self, sink: Box<dyn Write + Send>) {
        let _ = self.queue.send(Entry::Sink(sink));
    }

    pub fn enabled(&self, level: Level) -> bool {
        match level {
            Level::Debug => self.shared.debug.load(Ordering::Relaxed),
            Level::Trace => self.shared.trace.load(Ordering::Relaxed),
            _ => true,
        }
    }

    /// Queues one line; never waits for the sink. A fatal line is waited for, since the
    /// process is about to end.
    pub fn log(&self, level: Level, args: Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let room = self.shared.queued.fetch_add(1, Ordering::AcqRel) < QUEUE_LINES;
        let line = self.shared.line(level, args);
        if !room || self.queue.send(Entry::Line(line)).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            self.shared.unreported_drops.fetch_add(1, Ordering::Relaxed);
            self.shared.drops.fetch_add(1, Ordering::Relaxed);
        }
        if level == Level::Fatal {
            self.flush();
        }
    }

    /// Waits until every line logged so far is written and the sink flushed.
    pub fn flush(&self) {
        let (done, flushed) = mpsc::sync_channel(1);
        if self.queue.send(Entry::Flush(done)).is_ok() {
            let _ = flushed.recv();
        }
    }

    /// Lines dropped since start because the sink could not keep up.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.drops.load(Ordering::Relaxed)
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

impl Drop for Logger {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The writer thread: takes whatever is queued, writes it in one go, flushes once.
fn write_entries(entries: &Receiver<Entry>, mut sink: Box<dyn Write + Send>, shared: &Shared) {
    let mut batch = Vec::new();
    let mut flushed = Vec::new();
    while let Ok(first) = entries.recv() {
        let mut next = Some(first);
        while let Some(entry) = next {
            match entry {
                Entry::Line(line) => {
                    shared.queued.fetch_sub(1, Ordering::AcqRel);
                    batch.extend_from_slice(line.as_bytes());
                }
                Entry::Sink(new_sink) => {
                    write_batch(&mut *sink, &mut batch);
                    sink = new_sink;
                }
                Entry::Flush(done) => flushed.push(done),
            }
            next = entries.try_recv().ok();
        }
        let dropped = shared.unreported_drops.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let notice = shared.line(
                Level::Warn,
                format_args!("{dropped} log lines dropped: the log could not keep up"),
            );
            batch.extend_from_slice(notice.as_bytes());
        }
        write_batch(&mut *sink, &mut batch);
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
}

/// A log sink that fails has nowhere to report to; the server keeps running.
fn write_batch(sink: &mut dyn Write, batch: &mut Vec<u8>) {
    if !batch.is_empty() {
        let _ = sink.write_all(batch);
        batch.clear();
    }
    let _ = sink.flush();
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
            // One line a write, so the file rotates between lines.
            log.flush();
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

    /// A sink that blocks every write until opened.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
        written: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Gate {
        fn open(&self) {
            *self.open.0.lock().unwrap() = true;
            self.open.1.notify_all();
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.written.lock().unwrap()).into_owned()
        }
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (open, opened) = &*self.open;
            let mut guard = open.lock().unwrap();
            while !*guard {
                guard = opened.wait(guard).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_sink_never_blocks_the_logging_thread() {
        let gate = Gate::default();
        let log = Arc::new(Logger::to(Box::new(gate.clone())));
        let flood = Arc::clone(&log);
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            for i in 0..(QUEUE_LINES * 4) {
                flood.error(format_args!("violation {i}"));
            }
            let _ = done.send(());
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(10)).is_ok(),
            "logging waited for a stuck sink"
        );
        assert!(log.dropped_lines() > 0);
        gate.open();
        log.flush();
        let text = gate.text();
        assert!(text.contains("[ERR] violation 0\n"), "{text}");
        let notice = format!("{} log lines dropped", log.dropped_lines());
        assert!(text.contains(&notice), "{text}");
        log.info(format_args!("after the flood"));
        log.flush();
        assert!(gate.text().ends_with("[INF] after the flood\n"));
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
