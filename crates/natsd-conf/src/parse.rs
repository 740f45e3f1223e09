//! The parser: tokens to a [`Map`], with variables and includes resolved.
//!
//! Like nats-server's, it keeps a stack of open maps and arrays and a stack of pending keys:
//! a value goes into the innermost array, or into the innermost map under the last key.
//! `$name` looks the name up in the open maps, innermost first, then in the environment,
//! whose text is parsed as a value in turn (with cycle detection). `include path` parses the
//! file relative to the including one and merges its keys where the include stands.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::lex::{tokenize, Token, TokenKind};
use crate::value::{Entry, Kind, Map, Pos, Value};

/// Where the parser gets included files and environment variables, so tests and fuzzing can
/// supply their own.
pub trait Host {
    fn read_file(&self, path: &Path) -> io::Result<String>;
    fn env_var(&self, name: &str) -> Option<String>;
}

/// The real file system and process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl Host for System {
    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Includes nest at most this deep, which also stops an include cycle.
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// Worded as nats-server words it (`Parse error on line N: '...'`, which harnesses
    /// match on), after the file, line and column.
    #[error("{pos}: Parse error on line {}: '{message}'", pos.line)]
    Syntax { pos: Pos, message: String },
    #[error("{pos}: variable reference for '{name}' can not be found")]
    UnknownVariable { pos: Pos, name: String },
    #[error("{pos}: variable reference cycle for '{name}'")]
    VariableCycle { pos: Pos, name: String },
    #[error("{pos}: variable reference for '{name}' could not be parsed: {source}")]
    BadVariable {
        pos: Pos,
        name: String,
        source: Box<ConfError>,
    },
    #[error("{pos}: error parsing include file '{path}': {source}")]
    Include {
        pos: Pos,
        path: String,
        source: Box<ConfError>,
    },
    #[error("{pos}: includes nested more than {MAX_INCLUDE_DEPTH} deep")]
    IncludeDepth { pos: Pos },
    #[error("error opening config file: {path}: {source}")]
    Read { path: String, source: io::Error },
}

impl ConfError {
    /// Where the error is, for errors inside the text.
    pub fn pos(&self) -> Option<&Pos> {
        match self {
            ConfError::Syntax { pos, .. }
            | ConfError::UnknownVariable { pos, .. }
            | ConfError::VariableCycle { pos, .. }
            | ConfError::BadVariable { pos, .. }
            | ConfError::Include { pos, .. }
            | ConfError::IncludeDepth { pos } => Some(pos),
            ConfError::Read { .. } => None,
        }
    }
}

/// Parses a config file from disk, reading includes and variables from the system.
pub fn parse_file(path: &Path) -> Result<Map, ConfError> {
    parse_file_with(path, &System)
}

pub fn parse_file_with(path: &Path, host: &dyn Host) -> Result<Map, ConfError> {
    let mut variables = HashSet::new();
    Parser::new(host, Some(path), 0, &mut variables).parse_file(path)
}

/// Parses config text; includes are relative to the working directory.
pub fn parse_str(text: &str, host: &dyn Host) -> Result<Map, ConfError> {
    let mut variables = HashSet::new();
    Parser::new(host, None, 0, &mut variables).parse(text)
}

enum Open {
    Map(Map),
    Array(Vec<Value>, Pos),
}

struct Parser<'a> {
    host: &'a dyn Host,
    file: Option<Arc<str>>,
    dir: PathBuf,
    depth: usize,
    /// Environment variables being expanded, to catch `A=$B`, `B=$A`.
    expanding: &'a mut HashSet<String>,
    open: Vec<Open>,
    keys: Vec<(String, Pos)>,
    lines: Vec<usize>,
    text: String,
}

impl<'a> Parser<'a> {
    fn new(
        host: &'a dyn Host,
        file: Option<&Path>,
        depth: usize,
        expanding: &'a mut HashSet<String>,
    ) -> Self {
        Parser {
            host,
            file: file.map(|path| Arc::from(path.display().to_string())),
            dir: file
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            depth,
            expanding,
            open: Vec::new(),
            keys: Vec::new(),
            lines: Vec::new(),
            text: String::new(),
        }
    }

    fn parse_file(self, path: &Path) -> Result<Map, ConfError> {
        let text = self
            .host
            .read_file(path)
            .map_err(|source| ConfError::Read {
                path: path.display().to_string(),
                source,
            })?;
        self.parse(&text)
    }

    fn parse(mut self, text: &str) -> Result<Map, ConfError> {
        self.text = text.to_owned();
        self.lines = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let tokens = tokenize(text).map_err(|error| ConfError::Syntax {
            pos: self.pos(error.offset),
            message: error.message,
        })?;
        self.open.push(Open::Map(Map::default()));
        let mut last_kind = None;
        for token in tokens {
            last_kind = Some(token.kind);
            self.token(token)?;
        }
        if let Some((key, pos)) = self.keys.pop() {
            if last_kind == Some(TokenKind::Key) {
                return Err(ConfError::Syntax {
                    pos,
                    message: format!("config is invalid: key '{key}' has no value"),
                });
            }
        }
        match (self.open.pop(), self.open.is_empty()) {
            (Some(Open::Map(map)), true) => Ok(map),
            _ => Err(ConfError::Syntax {
                pos: self.pos(text.len()),
                message: "unbalanced brackets or braces".to_owned(),
            }),
        }
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = self.lines.partition_point(|&start| start <= offset);
        let line_start = self.lines.get(line.saturating_sub(1)).copied().unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |prefix| prefix.chars().count());
        Pos {
            file: self.file.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    fn syntax(&self, pos: Pos, message: String) -> ConfError {
        ConfError::Syntax { pos, message }
    }

    fn token(&mut self, token: Token) -> Result<(), ConfError> {
        let pos = self.pos(token.offset);
        let kind = match token.kind {
            TokenKind::Key => {
                self.keys.push((token.text, pos));
                return Ok(());
            }
            TokenKind::MapStart => {
                self.open.push(Open::Map(Map::default()));
                return Ok(());
            }
            TokenKind::ArrayStart => {
                self.open.push(Open::Array(Vec::new(), pos));
                return Ok(());
            }
            TokenKind::MapEnd => match self.open.pop() {
                Some(Open::Map(map)) if !self.open.is_empty() => Kind::Map(map),
                _ => return Err(self.syntax(pos, "unexpected '}'".to_owned())),
            },
            TokenKind::ArrayEnd => match self.open.pop() {
                Some(Open::Array(values, start)) => {
                    return self.set(Value {
                        kind: Kind::Array(values),
                        pos: start,
                    })
                }
                _ => return Err(self.syntax(pos, "unexpected ']'".to_owned())),
            },
            TokenKind::String => Kind::String(token.text),
            TokenKind::Bool => Kind::Bool(matches!(
                token.text.to_ascii_lowercase().as_str(),
                "true" | "yes" | "on"
            )),
            TokenKind::Integer => Kind::Integer(self.integer(&token.text, &pos)?),
            TokenKind::Float => match token.text.parse::<f64>() {
                Ok(f) if f.is_finite() => Kind::Float(f),
                _ => {
                    return Err(
                        self.syntax(pos, format!("float '{}' is out of the range", token.text))
                    )
                }
            },
            TokenKind::DateTime => Kind::DateTime(token.text),
            TokenKind::Variable => {
                let value = self.variable(&token.text, &pos)?;
                return self.set(Value { pos, ..value });
            }
            TokenKind::Include => return self.include(&token.text, pos),
        };
        self.set(Value { kind, pos })
    }

    fn set(&mut self, value: Value) -> Result<(), ConfError> {
        match self.open.last_mut() {
            Some(Open::Array(values, _)) => {
                values.push(value);
                Ok(())
            }
            Some(Open::Map(map)) => {
                let Some((key, key_pos)) = self.keys.pop() else {
                    let pos = value.pos.clone();
                    return Err(self.syntax(pos, "value without a key".to_owned()));
                };
                map.insert(Entry {
                    key,
                    key_pos,
                    value,
                    used_as_variable: false,
                });
                Ok(())
            }
            None => Err(self.syntax(value.pos, "value outside of any map".to_owned())),
        }
    }

    /// Digits with an optional size suffix: `k`, `m`, `g`... are powers of 1000, with `b`,
    /// `i` or `ib` after them powers of 1024.
    fn integer(&self, text: &str, pos: &Pos) -> Result<i64, ConfError> {
        let digits = text
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(text.len(), |(i, _)| i);
        let (number, suffix) = text.split_at(digits);
        let number: i64 = number.parse().map_err(|_| {
            self.syntax(pos.clone(), format!("integer '{text}' is out of the range"))
        })?;
        let suffix = suffix.to_ascii_lowercase();
        let (letter, binary) = match suffix.as_str() {
            "" => return Ok(number),
            s if s.len() == 1 => (s, false),
            s if matches!(s.get(1..), Some("b" | "i" | "ib")) => (s.get(..1).unwrap_or(s), true),
            _ => return Err(self.syntax(pos.clone(), format!("invalid size suffix in '{text}'"))),
        };
        let power = match letter {
            "k" => 1,
            "m" => 2,
            "g" => 3,
            "t" => 4,
            "p" => 5,
            "e" => 6,
            _ => return Err(self.syntax(pos.clone(), format!("invalid size suffix in '{text}'"))),
        };
        let base: i64 = if binary { 1024 } else { 1000 };
        base.checked_pow(power)
            .and_then(|scale| number.checked_mul(scale))
            .ok_or_else(|| {
                self.syntax(pos.clone(), format!("integer '{text}' is out of the range"))
            })
    }

    fn variable(&mut self, name: &str, pos: &Pos) -> Result<Value, ConfError> {
        // A bcrypt hash (`$2a$...`) is a password, not a variable.
        if name.starts_with("2a$") {
            return Ok(Value {
                kind: Kind::String(format!("${name}")),
                pos: pos.clone(),
            });
        }
        for open in self.open.iter_mut().rev() {
            if let Open::Map(map) = open {
                if let Some(value) = map.mark_used(name) {
                    return Ok(value.clone());
                }
            }
        }
        if self.expanding.contains(name) {
            return Err(ConfError::VariableCycle {
                pos: pos.clone(),
                name: name.to_owned(),
            });
        }
        let Some(text) = self.host.env_var(name) else {
            return Err(ConfError::UnknownVariable {
                pos: pos.clone(),
                name: name.to_owned(),
            });
        };
        self.expanding.insert(name.to_owned());
        let parsed =
            Parser::new(self.host, None, self.depth, self.expanding).parse(&format!("pk={text}"));
        self.expanding.remove(name);
        let bad = |source| ConfError::BadVariable {
            pos: pos.clone(),
            name: name.to_owned(),
            source: Box::new(source),
        };
        let map = parsed.map_err(bad)?;
        map.get("pk")
            .cloned()
            .ok_or_else(|| ConfError::UnknownVariable {
                pos: pos.clone(),
                name: name.to_owned(),
            })
    }

    fn include(&mut self, path: &str, pos: Pos) -> Result<(), ConfError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfError::IncludeDepth { pos });
        }
        let full = self.dir.join(path.strip_prefix("./").unwrap_or(path));
        let included = Parser::new(self.host, Some(&full), self.depth + 1, self.expanding)
            .parse_file(&full)
            .map_err(|source| ConfError::Include {
                pos: pos.clone(),
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        match self.open.last_mut() {
            Some(Open::Map(map)) => {
                for entry in included.entries() {
                    map.insert(entry.clone());
                }
                Ok(())
            }
            _ => Err(self.syntax(pos, "include outside of a map".to_owned())),
        }
    }
}
