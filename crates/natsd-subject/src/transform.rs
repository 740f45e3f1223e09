//! Subject transforms: how a subject matching a source pattern is rewritten into a
//! destination, as nats-server's subject mappings do it.
//!
//! A destination is a subject whose tokens are literals, a final `>` (the source's
//! remaining tokens), the old `$N` placeholders, or a mustache function:
//! `{{wildcard(N)}}`, `{{partition(buckets[, N...])}}`, `{{split(N, delim)}}`,
//! `{{splitFromLeft(N, pos)}}`, `{{splitFromRight(N, pos)}}`, `{{sliceFromLeft(N, size)}}`,
//! `{{sliceFromRight(N, size)}}`, `{{left(N, len)}}`, `{{right(N, len)}}` and
//! `{{random(ceiling)}}`. `N` counts the source's `*` tokens from 1. The checks, the
//! quirks (a function that does not fit its token leaves the token whole) and the error
//! texts are nats-server's.

use std::fmt;

use crate::validate::{FULL_WILDCARD, SEPARATOR, SINGLE_WILDCARD};

/// Why a transform cannot be made, in nats-server's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error("invalid subject")]
    BadSubject,
    /// What is wrong with the destination, and the token it is wrong in.
    #[error("invalid mapping destination: {problem}{}", in_token(token))]
    Destination {
        problem: DestinationProblem,
        token: String,
    },
}

fn in_token(token: &str) -> String {
    if token.is_empty() {
        String::new()
    } else {
        format!(" in {token}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationProblem {
    InvalidTransform,
    UnknownFunction,
    IndexOutOfRange,
    NotEnoughArgs,
    InvalidArg,
    TooManyArgs,
}

impl fmt::Display for DestinationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DestinationProblem::InvalidTransform => "invalid transform",
            DestinationProblem::UnknownFunction => "unknown function",
            DestinationProblem::IndexOutOfRange => "wildcard index out of range",
            DestinationProblem::NotEnoughArgs => "not enough arguments passed to the function",
            DestinationProblem::InvalidArg => "function argument is invalid or in the wrong format",
            DestinationProblem::TooManyArgs => "too many arguments passed to the function",
        })
    }
}

fn problem(problem: DestinationProblem, token: impl Into<String>) -> TransformError {
    TransformError::Destination {
        problem,
        token: token.into(),
    }
}

/// One destination token. Positions index the source subject's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A final `>`: the source's tokens from its own `>` on.
    Rest,
    Wildcard(usize),
    /// FNV-1a of the named tokens (or of the whole subject when none are named), modulo
    /// the bucket count.
    Partition {
        buckets: i32,
        of: Vec<usize>,
    },
    SplitFromLeft(usize, i32),
    SplitFromRight(usize, i32),
    SliceFromLeft(usize, i32),
    SliceFromRight(usize, i32),
    Left(usize, i32),
    Right(usize, i32),
    Split(usize, String),
    Random(i32),
}

/// A function call parsed from a destination token, before it is checked against the
/// source.
enum Call {
    Wildcard(i64),
    Partition(i32, Vec<i64>),
    Positional(fn(usize, i32) -> Part, i64, i32),
    Split(i64, String),
    Random(i32),
}

/// A transform from a source pattern to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTransform {
    source: String,
    destination: String,
    source_tokens: usize,
    parts: Vec<Part>,
}

impl SubjectTransform {
    /// The transform from `source` (a valid subject, `>` when empty) to `destination`, with
    /// every check nats-server makes of a mapping.
    pub fn new(source: &str, destination: &str) -> Result<Self, TransformError> {
        let source = if source.is_empty() { ">" } else { source };
        check_destination(destination)?;
        let (valid, _, source_rest) = shape(source);
        let (dest_valid, dest_wildcards, dest_rest) = shape(destination);
        if !valid || !dest_valid || dest_wildcards > 0 || source_rest != dest_rest {
            return Err(TransformError::BadSubject);
        }
        // Where each `*` of the source is, by its 1-based number.
        let positions: Vec<usize> = source
            .split('.')
            .enumerate()
            .filter(|(_, token)| *token == "*")
            .map(|(at, _)| at)
            .collect();
        // nats-server looks numbers up in a map, so one it lacks reads as position 0.
        let position_of = |n: i64| {
            usize::try_from(n - 1)
                .ok()
                .and_then(|i| positions.get(i).copied())
                .unwrap_or(0)
        };
        let wildcards = positions.len() as i64;
        let has_wildcards = wildcards > 0 || source_rest;
        let mut parts = Vec::new();
        for token in destination.split('.') {
            let part = match call(token)? {
                None if token == ">" => Part::Rest,
                None => Part::Literal(token.to_owned()),
                Some(Call::Random(ceiling)) => Part::Random(ceiling),
                Some(Call::Partition(buckets, _)) if !has_wildcards => Part::Partition {
                    buckets,
                    of: Vec::new(),
                },
                Some(_) if !has_wildcards => {
                    return Err(problem(DestinationProblem::IndexOutOfRange, token))
                }
                Some(call) => {
                    let indexes = match &call {
                        Call::Wildcard(n) | Call::Positional(_, n, _) | Call::Split(n, _) => {
                            vec![*n]
                        }
                        Call::Partition(_, of) => of.clone(),
                        Call::Random(_) => Vec::new(),
                    };
                    if let Some(n) = indexes.iter().find(|n| **n > wildcards) {
                        let token = format!("{token}: [{n}]");
                        return Err(problem(DestinationProblem::IndexOutOfRange, token));
                    }
                    match call {
                        Call::Wildcard(n) => Part::Wildcard(position_of(n)),
                        Call::Partition(buckets, of) => Part::Partition {
                            buckets,
                            of: of.into_iter().map(position_of).collect(),
                        },
                        Call::Positional(make, n, arg) => make(position_of(n), arg),
                        Call::Split(n, delimiter) => Part::Split(position_of(n), delimiter),
                        Call::Random(ceiling) => Part::Random(ceiling),
                    }
                }
            };
            parts.push(part);
        }
        Ok(SubjectTransform {
            source: source.to_owned(),
            destination: destination.to_owned(),
            source_tokens: source.split('.').count(),
            parts,
        })
    }

    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// Rewrites a subject, given as its tokens, that the source matched. `random` gives
    /// the numbers `{{random()}}` draws from.
    pub fn apply(&self, tokens: &[&[u8]], random: &mut dyn FnMut() -> u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.destination.len() + 16);
        let last = self.parts.len().saturating_sub(1);
        for (i, part) in self.parts.iter().enumerate() {
            let token = |at: usize| tokens.get(at).copied().unwrap_or_default();
            match part {
                Part::Rest => {
                    let from = self.source_tokens.saturating_sub(1);
                    out.extend_from_slice(&tokens.get(from..).unwrap_or_default().join(&b'.'));
                    break;
                }
                Part::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Part::Wildcard(at) => out.extend_from_slice(token(*at)),
                Part::Partition { buckets, of } => {
                    // The named tokens run together, or the whole subject.
                    let hash = if of.is_empty() {
                        let separated = tokens.iter().enumerate().flat_map(|(i, t)| {
                            (i > 0).then_some(&SEPARATOR).into_iter().chain(t.iter())
                        });
                        fnv1a(separated)
                    } else {
                        fnv1a(of.iter().flat_map(|at| token(*at).iter()))
                    };
                    // nats-server's arithmetic: the count is taken as unsigned.
                    let bucket = match *buckets as u32 {
                        0 => 0,
                        buckets => hash % buckets,
                    };
                    out.extend_from_slice(bucket.to_string().as_bytes());
                }
                Part::SplitFromLeft(at, pos) => split_at(&mut out, token(*at), *pos, false),
                Part::SplitFromRight(at, pos) => split_at(&mut out, token(*at), *pos, true),
                Part::SliceFromLeft(at, size) => slice_from_left(&mut out, token(*at), *size),
                Part::SliceFromRight(at, size) => slice_from_right(&mut out, token(*at), *size),
                Part::Left(at, len) => {
                    let source = token(*at);
                    out.extend_from_slice(match fits(*len, source) {
                        Some(len) => &source[..len],
                        None => source,
                    });
                }
                Part::Right(at, len) => {
                    let source = token(*at);
                    out.extend_from_slice(match fits(*len, source) {
                        Some(len) => &source[source.len() - len..],
                        None => source,
                    });
                }
                Part::Split(at, delimiter) => split(&mut out, token(*at), delimiter.as_bytes()),
                Part::Random(ceiling) => {
                    let ceiling = ceiling.unsigned_abs();
                    let drawn = if ceiling == 0 {
                        0
                    } else {
                        (random() & 0x7fff_ffff) % ceiling
                    };
                    out.extend_from_slice(drawn.to_string().as_bytes());
                }
            }
            if i < last {
                out.push(SEPARATOR);
            }
        }
        out
    }
}

/// `n` as a length strictly inside `token`, if it is one.
fn fits(n: i32, token: &[u8]) -> Option<usize> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n > 0 && *n < token.len())
}

fn split_at(out: &mut Vec<u8>, token: &[u8], pos: i32, from_right: bool) {
    match fits(pos, token) {
        Some(pos) => {
            let at = if from_right { token.len() - pos } else { pos };
            out.extend_from_slice(&token[..at]);
            out.push(SEPARATOR);
            out.extend_from_slice(&token[at..]);
        }
        None => out.extend_from_slice(token),
    }
}

fn slice_from_left(out: &mut Vec<u8>, token: &[u8], size: i32) {
    let Some(size) = fits(size, token) else {
        out.extend_from_slice(token);
        return;
    };
    let pieces: Vec<&[u8]> = token.chunks(size).collect();
    out.extend_from_slice(&pieces.join(&SEPARATOR));
}

fn slice_from_right(out: &mut Vec<u8>, token: &[u8], size: i32) {
    let Some(size) = fits(size, token) else {
        out.extend_from_slice(token);
        return;
    };
    let head = token.len() % size;
    let mut pieces: Vec<&[u8]> = Vec::new();
    if head > 0 {
        pieces.push(&token[..head]);
    }
    pieces.extend(token[head..].chunks(size));
    out.extend_from_slice(&pieces.join(&SEPARATOR));
}

/// Splits on `delimiter`, leaving out the empty pieces and the separators around them the
/// way nats-server does.
fn split(out: &mut Vec<u8>, token: &[u8], delimiter: &[u8]) {
    let pieces = split_bytes(token, delimiter);
    for (j, piece) in pieces.iter().enumerate() {
        out.extend_from_slice(piece);
        let next_is_text = pieces.get(j + 1).is_some_and(|next| !next.is_empty());
        if next_is_text && !(j == 0 && piece.is_empty()) {
            out.push(SEPARATOR);
        }
    }
}

/// Go's `strings.Split`: an empty delimiter splits after each UTF-8 sequence.
fn split_bytes<'a>(token: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    if delimiter.is_empty() {
        let mut pieces = Vec::new();
        let mut rest = token;
        while !rest.is_empty() {
            let len = utf8_len(rest);
            pieces.push(&rest[..len]);
            rest = &rest[len..];
        }
        return pieces;
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at + delimiter.len() <= token.len() {
        if &token[at..at + delimiter.len()] == delimiter {
            pieces.push(&token[start..at]);
            at += delimiter.len();
            start = at;
        } else {
            at += 1;
        }
    }
    pieces.push(&token[start..]);
    pieces
}

/// The length of the UTF-8 sequence `bytes` starts with; an invalid one counts one byte.
fn utf8_len(bytes: &[u8]) -> usize {
    (1..=bytes.len().min(4))
        .find(|len| std::str::from_utf8(&bytes[..*len]).is_ok())
        .unwrap_or(1)
}

fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u32 {
    bytes.fold(0x811c_9dc5, |hash: u32, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The destination checks nats-server makes before building the transform: no empty
/// token or token after `>`, only known functions, no whitespace in other tokens.
fn check_destination(destination: &str) -> Result<(), TransformError> {
    if destination.is_empty() {
        return Err(TransformError::BadSubject);
    }
    let mut after_rest = false;
    for token in destination.split('.') {
        if token.is_empty() || after_rest {
            return Err(problem(DestinationProblem::InvalidTransform, token));
        }
        if is_call(token) {
            if function_of(token).is_none_or(|(name, _)| known(name).is_none()) {
                return Err(problem(DestinationProblem::UnknownFunction, token));
            }
            continue;
        }
        if token == ">" {
            after_rest = true;
        } else if token.bytes().any(is_space) {
            return Err(problem(DestinationProblem::InvalidTransform, ""));
        }
    }
    Ok(())
}

/// Whether a subject is valid, how many `*` tokens it has and whether it ends in `>`, as
/// nats-server's transform counts them (whitespace is not its concern here).
fn shape(subject: &str) -> (bool, i64, bool) {
    let mut wildcards = 0;
    let mut rest = false;
    for token in subject.split('.') {
        if token.is_empty() || rest {
            return (false, 0, false);
        }
        match token.as_bytes() {
            FULL_WILDCARD => rest = true,
            SINGLE_WILDCARD => wildcards += 1,
            _ => {}
        }
    }
    (true, wildcards, rest)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

fn trim_space(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

fn is_call(token: &str) -> bool {
    token.len() > 4 && token.starts_with("{{") && token.ends_with("}}")
}

/// The function name and the text between its parentheses, for a `{{ name(args) }}` token.
fn function_of(token: &str) -> Option<(&str, &str)> {
    let inner = trim_space(token.strip_prefix("{{")?.strip_suffix("}}")?);
    let name_end = inner
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_end);
    let args = trim_space(rest).strip_prefix('(')?.strip_suffix(')')?;
    Some((name, args))
}

#[derive(Clone, Copy)]
enum Function {
    Wildcard,
    Partition,
    SplitFromLeft,
    SplitFromRight,
    SliceFromLeft,
    SliceFromRight,
    Left,
    Right,
    Split,
    Random,
}

/// A function by name: its first letter, and the first of each later word, in either case.
fn known(name: &str) -> Option<Function> {
    const NAMES: [(&str, Function); 10] = [
        ("wildcard", Function::Wildcard),
        ("partition", Function::Partition),
        ("splitFromLeft", Function::SplitFromLeft),
        ("splitFromRight", Function::SplitFromRight),
        ("sliceFromLeft", Function::SliceFromLeft),
        ("sliceFromRight", Function::SliceFromRight),
        ("left", Function::Left),
        ("right", Function::Right),
        ("split", Function::Split),
        ("random", Function::Random),
    ];
    let same = |canonical: &str| {
        canonical.len() == name.len()
            && canonical
                .bytes()
                .zip(name.bytes())
                .enumerate()
                .all(|(i, (c, n))| {
                    if i == 0 || c.is_ascii_uppercase() {
                        c.eq_ignore_ascii_case(&n)
                    } else {
                        c == n
                    }
                })
    };
    NAMES
        .iter()
        .find(|(canonical, _)| same(canonical))
        .map(|(_, function)| *function)
}

/// The function a destination token calls, `None` for a plain token (`$N` is the old
/// spelling of `{{wildcard(N)}}`; other tokens starting with `$` are plain).
fn call(token: &str) -> Result<Option<Call>, TransformError> {
    if let Some(number) = token.strip_prefix('$').filter(|n| !n.is_empty()) {
        return Ok(number.parse().ok().map(Call::Wildcard));
    }
    if !is_call(token) {
        return Ok(None);
    }
    let fail = |p| problem(p, token);
    let Some((name, args)) = function_of(token) else {
        return Err(fail(DestinationProblem::UnknownFunction));
    };
    let Some(function) = known(name) else {
        return Err(fail(DestinationProblem::UnknownFunction));
    };
    // Arguments split at commas, each comma taking the whitespace after it.
    let args: Vec<&str> = args
        .split(',')
        .enumerate()
        .map(|(i, arg)| {
            if i == 0 {
                arg
            } else {
                arg.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8))
            }
        })
        .collect();
    let int = |arg: &str| -> Result<i64, TransformError> {
        arg.trim_matches(' ')
            .parse()
            .map_err(|_| fail(DestinationProblem::InvalidArg))
    };
    let int32 = |arg: &str| -> Result<i32, TransformError> {
        i32::try_from(int(arg)?).map_err(|_| fail(DestinationProblem::InvalidArg))
    };
    let two = |make: fn(usize, i32) -> Part| -> Result<Call, TransformError> {
        match args.as_slice() {
            [index, arg] => Ok(Call::Positional(make, int(index)?, int32(arg)?)),
            [] | [_] => Err(fail(DestinationProblem::NotEnoughArgs)),
            _ => Err(fail(DestinationProblem::TooManyArgs)),
        }
    };
    let call = match function {
        Function::Wildcard => match args.as_slice() {
            [""] => return Err(fail(DestinationProblem::NotEnoughArgs)),
            [index] => Call::Wildcard(int(index)?),
            _ => return Err(fail(DestinationProblem::TooManyArgs)),
        },
        Function::Partition => {
            let (buckets, of) = args.split_first().unwrap_or((&"", &[]));
            let of = of.iter().map(|arg| int(arg)).collect::<Result<_, _>>()?;
            Call::Partition(int32(buckets)?, of)
        }
        Function::SplitFromLeft => two(Part::SplitFromLeft)?,
        Function::SplitFromRight => two(Part::SplitFromRight)?,
        Function::SliceFromLeft => two(Part::SliceFromLeft)?,
        Function::SliceFromRight => two(Part::SliceFromRight)?,
        Function::Left => two(Part::Left)?,
        Function::Right => two(Part::Right)?,
        Function::Split => match args.as_slice() {
            [index, delimiter] => {
                let index = int(index)?;
                if delimiter.contains(' ') || delimiter.contains('.') {
                    return Err(fail(DestinationProblem::InvalidArg));
                }
                Call::Split(index, (*delimiter).to_owned())
            }
            [] | [_] => return Err(fail(DestinationProblem::NotEnoughArgs)),
            _ => return Err(fail(DestinationProblem::TooManyArgs)),
        },
        Function::Random => match args.as_slice() {
            [ceiling] => Call::Random(int32(ceiling)?),
            _ => return Err(fail(DestinationProblem::NotEnoughArgs)),
        },
    };
    Ok(Some(call))
}

/// The destination that maps a subject onto itself: each `*` becomes its `$N`.
pub fn identity_destination(source: &str) -> String {
    let mut n = 0;
    source
        .split('.')
        .map(|token| {
            if token == "*" {
                n += 1;
                format!("${n}")
            } else {
                token.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
#[path = "transform_tests.rs"]
mod tests;
