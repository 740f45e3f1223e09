//! The parsed tree: values that remember where they were written.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Where a key or value was written: file (when there is one), line and column, both from 1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: Option<Arc<str>>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}:{}:{}", self.line, self.column),
            None => write!(f, "{}:{}", self.line, self.column),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// A Zulu ISO-8601 time, as written (`2006-01-02T15:04:05Z`).
    DateTime(String),
    Array(Vec<Value>),
    Map(Map),
}

impl Kind {
    /// The type's name in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::String(_) => "string",
            Kind::Integer(_) => "integer",
            Kind::Float(_) => "float",
            Kind::Bool(_) => "boolean",
            Kind::DateTime(_) => "datetime",
            Kind::Array(_) => "array",
            Kind::Map(_) => "map",
        }
    }
}

/// A key and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Value,
    /// Referenced as `$key`: such keys are variables, not settings, so unknown-key checks
    /// skip them.
    pub used_as_variable: bool,
}

/// A map in the order its keys were first written; a repeated key replaces the earlier value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<Entry>,
}

impl Map {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(key).map(|entry| &entry.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn insert(&mut self, entry: Entry) {
        match self.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    pub(crate) fn mark_used(&mut self, key: &str) -> Option<&Value> {
        let entry = self.entries.iter_mut().find(|e| e.key == key)?;
        entry.used_as_variable = true;
        Some(&entry.value)
    }
}

/// A value of the wrong type or out of range for the setting it configures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct ValueError {
    pub pos: Pos,
    pub message: String,
}

impl Value {
    fn error(&self, message: String) -> ValueError {
        ValueError {
            pos: self.pos.clone(),
            message,
        }
    }

    fn expected(&self, what: &str) -> ValueError {
        self.error(format!("expected {what}, got {}", self.kind.type_name()))
    }

    pub fn as_str(&self) -> Result<&str, ValueError> {
        match &self.kind {
            Kind::String(s) => Ok(s),
            _ => Err(self.expected("a string")),
        }
    }

    pub fn as_bool(&self) -> Result<bool, ValueError> {
        match self.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.expected("a boolean")),
        }
    }

    pub fn as_int(&self) -> Result<i64, ValueError> {
        match self.kind {
            Kind::Integer(n) => Ok(n),
            _ => Err(self.expected("an integer")),
        }
    }

    pub fn as_map(&self) -> Result<&Map, ValueError> {
        match &self.kind {
            Kind::Map(map) => Ok(map),
            _ => Err(self.expected("a map")),
        }
    }

    pub fn as_array(&self) -> Result<&[Value], ValueError> {
        match &self.kind {
            Kind::Array(values) => Ok(values),
            _ => Err(self.expected("an array")),
        }
    }

    /// An integer that fits `T` (sizes, counts, ports).
    pub fn as_integer<T: TryFrom<i64>>(&self) -> Result<T, ValueError> {
        let n = self.as_int()?;
        T::try_from(n).map_err(|_| self.error(format!("{n} is out of range")))
    }

    /// A Go duration string (`"2s"`, `"1h30m"`, `"500ms"`).
    pub fn as_duration(&self) -> Result<Duration, ValueError> {
        let text = self.as_str()?;
        parse_duration(text).ok_or_else(|| self.error(format!("invalid duration {text:?}")))
    }

    /// Seconds as a number, the older form of some durations (`timeout: 2`, `timeout: 0.5`).
    pub fn as_seconds(&self) -> Result<Duration, ValueError> {
        let seconds = match self.kind {
            Kind::Integer(n) => n as f64,
            Kind::Float(f) => f,
            _ => return Err(self.expected("a number of seconds")),
        };
        Duration::try_from_secs_f64(seconds)
            .map_err(|_| self.error(format!("{seconds} is not a valid number of seconds")))
    }
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units
/// (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), optionally signed; `0` alone is zero. Negative
/// durations are refused: no setting takes one.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = rest;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match rest.get(..unit_len)? {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = rest.get(unit_len..)?;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "2", "s", "2x", "-1s", "1s2"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
