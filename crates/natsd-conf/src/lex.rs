//! The lexer: a state machine that turns config text into tokens.
//!
//! It follows nats-server's lexer state for state, because its quirks are part of the format
//! that existing files rely on: whitespace separates a key from its value, a bare word ends at
//! whitespace or `,;]}` and newlines, a number followed by letters turns into a string (`10s`,
//! `127.0.0.1:4222`), and a block string `( ... )` ends at a `)` alone on its line.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Key,
    String,
    Bool,
    Integer,
    Float,
    DateTime,
    Variable,
    Include,
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub text: String,
    /// Byte offset of the token in the input.
    pub offset: usize,
}

/// A lexical error and the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub message: String,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Top,
    TopValueEnd,
    BlockStart,
    BlockValueEnd,
    BlockEnd,
    KeyStart,
    QuotedKey(char),
    Key,
    KeyEnd,
    IncludeStart,
    Include,
    IncludeQuoted(char),
    IncludeBare,
    Value,
    ArrayValue,
    ArrayValueEnd,
    MapKeyStart,
    MapQuotedKey(char),
    MapKey,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    RawString,
    QuotedString,
    BareString,
    Block,
    StringEscape,
    NumberStart,
    Number,
    SizeSuffix,
    DateAfterYear,
    NegativeNumberStart,
    NegativeNumber,
    FloatStart,
    Float,
    IpAddress,
    Comment,
}

/// Splits `input` into tokens, or fails at the first lexical error.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer {
        input,
        pos: 0,
        width: 0,
        start: 0,
        token_start: 0,
        stack: Vec::new(),
        escaped: None,
        string_state: State::BareString,
        tokens: Vec::new(),
    };
    let mut state = Some(State::Top);
    while let Some(current) = state {
        state = lexer.step(current)?;
    }
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    width: usize,
    /// Start of the pending text.
    start: usize,
    /// Start of the token being lexed; unlike `start`, escapes do not move it.
    token_start: usize,
    /// Where to go once a value, key or comment is done.
    stack: Vec<State>,
    /// The decoded text so far of a string that had escapes.
    escaped: Option<String>,
    /// The string state an escape returns to.
    string_state: State,
    tokens: Vec<Token>,
}

fn is_whitespace(c: Option<char>) -> bool {
    matches!(c, Some(' ' | '\t'))
}

fn is_newline(c: Option<char>) -> bool {
    matches!(c, Some('\n' | '\r'))
}

fn is_space(c: Option<char>) -> bool {
    c.is_some_and(char::is_whitespace)
}

fn is_key_separator(c: Option<char>) -> bool {
    matches!(c, Some('=' | ':'))
}

fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

fn is_size_suffix(c: Option<char>) -> bool {
    matches!(
        c,
        Some('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E')
    )
}

/// What may follow a number for it to stay a number.
fn ends_number(c: Option<char>) -> bool {
    c.is_none()
        || is_newline(c)
        || is_whitespace(c)
        || is_digit(c)
        || matches!(c, Some('}' | ';' | ','))
}

fn shown(c: Option<char>) -> String {
    match c {
        None => "EOF".to_owned(),
        Some('\n') => "\\n".to_owned(),
        Some('\r') => "\\r".to_owned(),
        Some('\t') => "\\t".to_owned(),
        Some(c) => c.to_string(),
    }
}

impl Lexer<'_> {
    fn next(&mut self) -> Option<char> {
        match self
            .input
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    /// Steps back over the character `next` returned; once per `next`.
    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.token_start = self.pos;
    }

    /// Skips an opening quote; the token's position stays on the quote.
    fn ignore_quote(&mut self) {
        self.ignore();
        self.token_start -= 1;
    }

    fn pending(&self) -> &str {
        self.input.get(self.start..self.pos).unwrap_or_default()
    }

    fn emit(&mut self, kind: TokenKind) {
        let mut text = self.escaped.take().unwrap_or_default();
        text.push_str(self.pending());
        self.tokens.push(Token {
            kind,
            text,
            offset: self.token_start,
        });
        self.start = self.pos;
        self.token_start = self.pos;
    }

    fn push(&mut self, state: State) {
        self.stack.push(state);
    }

    /// The state to return to after a value; the stack is empty only past the end.
    fn pop(&mut self) -> Result<Option<State>, LexError> {
        self.stack
            .pop()
            .map(Some)
            .ok_or_else(|| self.error("Unexpected end of value.".to_owned()))
    }

    /// An error at the character just read (or at the current position after a backup).
    fn error(&self, message: String) -> LexError {
        LexError {
            message,
            offset: self.pos - self.width,
        }
    }

    fn fail<T>(&self, message: String) -> Result<T, LexError> {
        Err(self.error(message))
    }

    /// The end of input where a key may start: fine unless something is pending.
    fn end(&mut self) -> Result<Option<State>, LexError> {
        if self.pos > self.start {
            return self.fail("Unexpected EOF.".to_owned());
        }
        Ok(None)
    }

    /// Whether `c`, just read, starts a comment: `#`, or `/` followed by a second `/`
    /// (then consumed). After a lone `/` the input is left as it was.
    fn comment_starts(&mut self, c: Option<char>) -> bool {
        match c {
            Some('#') => true,
            Some('/') => {
                if self.next() == Some('/') {
                    return true;
                }
                self.backup();
                false
            }
            _ => false,
        }
    }

    fn comment(&mut self, then: State) -> Result<Option<State>, LexError> {
        self.push(then);
        self.ignore();
        Ok(Some(State::Comment))
    }

    fn step(&mut self, state: State) -> Result<Option<State>, LexError> {
        use State::*;
        let next = match state {
            Top => {
                let c = self.next();
                if is_space(c) {
                    self.ignore();
                    return Ok(Some(Top));
                }
                match c {
                    Some('{') => {
                        self.push(Top);
                        self.ignore();
                        BlockStart
                    }
                    _ if self.comment_starts(c) => return self.comment(Top),
                    // A lone `/` cannot start a key.
                    None | Some('/') => return self.end(),
                    Some(_) => {
                        self.backup();
                        self.push(TopValueEnd);
                        KeyStart
                    }
                }
            }
            TopValueEnd => {
                let c = self.next();
                match c {
                    _ if self.comment_starts(c) => return self.comment(Top),
                    // A lone `/` is skipped like whitespace.
                    _ if c == Some('/') || is_whitespace(c) => TopValueEnd,
                    None | Some('\n' | '\r' | ';' | ',' | '}') => {
                        self.ignore();
                        Top
                    }
                    _ => {
                        return self.fail(format!(
                            "Expected a top-level value to end with a new line, comment or EOF, but got '{}' instead.",
                            shown(c)
                        ))
                    }
                }
            }
            BlockStart => {
                let c = self.next();
                if is_space(c) {
                    self.ignore();
                    return Ok(Some(BlockStart));
                }
                match c {
                    Some('{') => {
                        self.push(BlockEnd);
                        self.ignore();
                        BlockStart
                    }
                    Some('}') => {
                        self.ignore();
                        return self.pop();
                    }
                    _ if self.comment_starts(c) => return self.comment(BlockStart),
                    None | Some('/') => return self.end(),
                    Some(_) => {
                        self.backup();
                        self.push(BlockValueEnd);
                        KeyStart
                    }
                }
            }
            BlockValueEnd => {
                let c = self.next();
                match c {
                    _ if self.comment_starts(c) => return self.comment(BlockValueEnd),
                    _ if c == Some('/') || is_whitespace(c) => BlockValueEnd,
                    Some('\n' | '\r' | ';' | ',') => {
                        self.ignore();
                        BlockStart
                    }
                    Some('}') => {
                        self.backup();
                        BlockEnd
                    }
                    _ => {
                        return self.fail(format!(
                            "Expected a block-level value to end with a new line, comment or EOF, but got '{}' instead.",
                            shown(c)
                        ))
                    }
                }
            }
            BlockEnd => {
                let c = self.next();
                match c {
                    _ if self.comment_starts(c) => return self.comment(BlockStart),
                    _ if c == Some('/') || is_newline(c) || is_whitespace(c) => BlockEnd,
                    Some(';' | ',') => {
                        self.ignore();
                        BlockStart
                    }
                    Some('}') => {
                        self.ignore();
                        return self.pop();
                    }
                    _ => {
                        return self.fail(format!(
                            "Expected a block-level to end with a '}}', but got '{}' instead.",
                            shown(c)
                        ))
                    }
                }
            }
            KeyStart => {
                let c = self.peek();
                match c {
                    _ if is_key_separator(c) => {
                        return self.fail(format!("Unexpected key separator '{}'", shown(c)))
                    }
                    _ if is_space(c) => {
                        self.next();
                        self.ignore();
                        KeyStart
                    }
                    Some(quote @ ('"' | '\'')) => {
                        self.next();
                        self.ignore();
                        QuotedKey(quote)
                    }
                    _ => {
                        self.ignore();
                        self.next();
                        Key
                    }
                }
            }
            QuotedKey(quote) => match self.peek() {
                Some(c) if c == quote => {
                    self.emit(TokenKind::Key);
                    self.next();
                    self.ignore();
                    KeyEnd
                }
                None => return self.end(),
                Some(_) => {
                    self.next();
                    QuotedKey(quote)
                }
            },
            Key => {
                let c = self.peek();
                if is_space(c) {
                    return Ok(Some(self.key_or_include(KeyEnd, None)));
                }
                if is_key_separator(c) || c.is_none() {
                    self.emit(TokenKind::Key);
                    KeyEnd
                } else {
                    self.next();
                    Key
                }
            }
            KeyEnd => {
                let c = self.next();
                match c {
                    _ if is_space(c) => {
                        self.ignore();
                        KeyEnd
                    }
                    _ if is_key_separator(c) => {
                        self.ignore();
                        Value
                    }
                    // A key with no value: the parser reports it.
                    None => return Ok(None),
                    _ => {
                        self.backup();
                        Value
                    }
                }
            }
            IncludeStart => {
                if is_whitespace(self.next()) {
                    self.ignore();
                    IncludeStart
                } else {
                    self.backup();
                    Include
                }
            }
            Include => {
                let c = self.next();
                let found = match c {
                    Some(quote @ ('"' | '\'')) => {
                        self.ignore();
                        return Ok(Some(IncludeQuoted(quote)));
                    }
                    Some('[') => "start of an array",
                    Some('{') => "start of a map",
                    Some('(') => "start of a block",
                    Some('-') => "start of a number",
                    Some(d) if d.is_ascii_digit() => "start of a number",
                    Some('\\') => "escape sequence",
                    _ if is_newline(c) => "new line",
                    _ => {
                        self.backup();
                        return Ok(Some(IncludeBare));
                    }
                };
                return self.fail(format!("Expected include value but found {found}"));
            }
            IncludeQuoted(quote) => match self.next() {
                Some(c) if c == quote => {
                    self.backup();
                    self.emit(TokenKind::Include);
                    self.next();
                    self.ignore();
                    return self.pop();
                }
                None => return self.fail("Unexpected EOF in quoted include".to_owned()),
                Some(_) => IncludeQuoted(quote),
            },
            IncludeBare => {
                let c = self.next();
                if c.is_none()
                    || is_newline(c)
                    || is_whitespace(c)
                    || matches!(c, Some(';' | '}' | '\''))
                {
                    self.backup();
                    self.emit(TokenKind::Include);
                    if c == Some('\'') {
                        self.next();
                        self.ignore();
                    }
                    return self.pop();
                }
                IncludeBare
            }
            Value => {
                let c = self.next();
                if is_whitespace(c) {
                    self.ignore();
                    return Ok(Some(Value));
                }
                match c {
                    Some('[') => {
                        self.ignore();
                        self.emit(TokenKind::ArrayStart);
                        ArrayValue
                    }
                    Some('{') => {
                        self.ignore();
                        self.emit(TokenKind::MapStart);
                        MapKeyStart
                    }
                    Some('\'') => {
                        self.ignore_quote();
                        RawString
                    }
                    Some('"') => {
                        self.ignore_quote();
                        self.string_state = QuotedString;
                        QuotedString
                    }
                    Some('-') => NegativeNumberStart,
                    Some('(') => {
                        self.ignore();
                        Block
                    }
                    Some(d) if d.is_ascii_digit() => {
                        self.backup();
                        NumberStart
                    }
                    Some('.') => return self.fail("Floats must start with a digit".to_owned()),
                    _ if is_newline(c) => {
                        return self.fail("Expected value but found new line".to_owned())
                    }
                    _ => {
                        self.backup();
                        self.string_state = BareString;
                        BareString
                    }
                }
            }
            ArrayValue => {
                let c = self.next();
                match c {
                    _ if is_space(c) => {
                        self.ignore();
                        ArrayValue
                    }
                    _ if self.comment_starts(c) => return self.comment(ArrayValue),
                    // nats-server reports a lone `/` as a stray comma.
                    Some('/' | ',') => {
                        return self.fail("Unexpected array value terminator ','.".into())
                    }
                    Some(']') => return self.array_end(),
                    _ => {
                        self.backup();
                        self.push(ArrayValueEnd);
                        Value
                    }
                }
            }
            ArrayValueEnd => {
                let c = self.next();
                match c {
                    _ if is_whitespace(c) => {
                        self.ignore();
                        ArrayValueEnd
                    }
                    _ if self.comment_starts(c) => return self.comment(ArrayValueEnd),
                    // A lone `/` separates values like a comma.
                    Some('/' | ',' | '\n' | '\r') => {
                        self.ignore();
                        ArrayValue
                    }
                    Some(']') => return self.array_end(),
                    _ => {
                        return self.fail(format!(
                            "Expected an array value terminator \",\" or an array terminator \"]\", but got '{}' instead.",
                            shown(c)
                        ))
                    }
                }
            }
            MapKeyStart => {
                let c = self.peek();
                match c {
                    _ if is_key_separator(c) => {
                        return self.fail(format!("Unexpected key separator '{}'.", shown(c)))
                    }
                    Some(']') => {
                        return self.fail("Unexpected array end ']' processing map.".to_owned())
                    }
                    _ if is_space(c) => {
                        self.next();
                        self.ignore();
                        MapKeyStart
                    }
                    Some('}') => {
                        self.next();
                        return self.map_end();
                    }
                    Some('#' | '/') => {
                        self.next();
                        if self.comment_starts(c) {
                            return self.comment(MapKeyStart);
                        }
                        // A lone `/` is dropped and the key starts after it.
                        self.ignore();
                        self.next();
                        MapKey
                    }
                    Some(quote @ ('"' | '\'')) => {
                        self.next();
                        self.ignore();
                        MapQuotedKey(quote)
                    }
                    None => return self.fail("Unexpected EOF processing map.".to_owned()),
                    Some(_) => {
                        self.ignore();
                        self.next();
                        MapKey
                    }
                }
            }
            MapQuotedKey(quote) => match self.peek() {
                None => return self.fail("Unexpected EOF processing quoted map key.".to_owned()),
                Some(c) if c == quote => {
                    self.emit(TokenKind::Key);
                    self.next();
                    self.ignore();
                    MapKeyEnd
                }
                Some(_) => {
                    self.next();
                    MapQuotedKey(quote)
                }
            },
            MapKey => {
                let c = self.peek();
                if c.is_none() {
                    return self.fail("Unexpected EOF processing map key.".to_owned());
                }
                if is_space(c) {
                    return Ok(Some(self.key_or_include(MapKeyEnd, Some(MapValueEnd))));
                }
                if is_key_separator(c) {
                    self.emit(TokenKind::Key);
                    MapKeyEnd
                } else {
                    self.next();
                    MapKey
                }
            }
            MapKeyEnd => {
                let c = self.next();
                match c {
                    _ if is_space(c) => {
                        self.ignore();
                        MapKeyEnd
                    }
                    _ if is_key_separator(c) => {
                        self.ignore();
                        MapValue
                    }
                    _ => {
                        self.backup();
                        MapValue
                    }
                }
            }
            MapValue => {
                let c = self.next();
                match c {
                    _ if is_space(c) => {
                        self.ignore();
                        MapValue
                    }
                    Some(',') => return self.fail("Unexpected map value terminator \",\".".into()),
                    Some('}') => return self.map_end(),
                    _ => {
                        self.backup();
                        self.push(MapValueEnd);
                        Value
                    }
                }
            }
            MapValueEnd => {
                let c = self.next();
                match c {
                    _ if is_whitespace(c) => {
                        self.ignore();
                        MapValueEnd
                    }
                    _ if self.comment_starts(c) => return self.comment(MapValueEnd),
                    // A lone `/` separates entries like a comma.
                    Some('/' | ';' | ',' | '\n' | '\r') => {
                        self.ignore();
                        MapKeyStart
                    }
                    Some('}') => return self.map_end(),
                    _ => {
                        return self.fail(format!(
                            "Expected a map value terminator \",\" or a map terminator \"}}\", but got '{}' instead.",
                            shown(c)
                        ))
                    }
                }
            }
            RawString => match self.next() {
                Some('\'') => {
                    self.backup();
                    self.emit(TokenKind::String);
                    self.next();
                    self.ignore();
                    return self.pop();
                }
                None => return self.unterminated(),
                Some(_) => RawString,
            },
            QuotedString => match self.next() {
                Some('\\') => {
                    self.save_escaped_part();
                    StringEscape
                }
                Some('"') => {
                    self.backup();
                    self.emit(TokenKind::String);
                    self.next();
                    self.ignore();
                    return self.pop();
                }
                None => return self.unterminated(),
                Some(_) => QuotedString,
            },
            BareString => {
                let c = self.next();
                match c {
                    Some('\\') => {
                        self.save_escaped_part();
                        StringEscape
                    }
                    Some('\'') => {
                        self.backup();
                        self.emit(TokenKind::String);
                        self.next();
                        self.ignore();
                        return self.pop();
                    }
                    _ if c.is_none()
                        || is_newline(c)
                        || is_whitespace(c)
                        || matches!(c, Some(';' | ',' | ']' | '}')) =>
                    {
                        self.backup();
                        let kind = if self.escaped.is_some() {
                            TokenKind::String
                        } else if is_bool_word(self.pending()) {
                            TokenKind::Bool
                        } else if self.pending().starts_with('$') {
                            self.start += 1;
                            TokenKind::Variable
                        } else {
                            TokenKind::String
                        };
                        self.emit(kind);
                        return self.pop();
                    }
                    _ => BareString,
                }
            }
            Block => match self.next() {
                Some(')') if self.block_closes() => {
                    self.pos -= 1;
                    self.emit(TokenKind::String);
                    self.pos += 1;
                    self.ignore();
                    return self.pop();
                }
                None => return self.fail("Unexpected EOF processing block.".to_owned()),
                _ => Block,
            },
            StringEscape => {
                let c = self.next();
                let decoded = match c {
                    Some('x') => return self.hex_escape().map(Some),
                    Some('t') => '\t',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('"') => '"',
                    Some('\\') => '\\',
                    _ => {
                        return self.fail(format!(
                            "Invalid escape character '{}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                            shown(c)
                        ))
                    }
                };
                self.escaped.get_or_insert_with(String::new).push(decoded);
                self.start = self.pos;
                self.string_state
            }
            NumberStart => {
                let c = self.next();
                if !is_digit(c) {
                    return self.fail(format!("Expected a digit but got '{}'.", shown(c)));
                }
                Number
            }
            Number => {
                let c = self.next();
                match c {
                    Some('-') => {
                        if self.pos - self.start != 5 {
                            return self
                                .fail("All ISO8601 dates must be in full Zulu form.".to_owned());
                        }
                        DateAfterYear
                    }
                    _ if is_digit(c) => Number,
                    Some('.') => FloatStart,
                    _ if is_size_suffix(c) => SizeSuffix,
                    _ if ends_number(c) => {
                        self.backup();
                        self.emit(TokenKind::Integer);
                        return self.pop();
                    }
                    // Digits followed by anything else are a bare string (`10s`, `1.2.3.4x`).
                    _ => {
                        self.string_state = BareString;
                        BareString
                    }
                }
            }
            SizeSuffix => {
                let c = self.next();
                if matches!(c, Some('b' | 'B' | 'i' | 'I')) {
                    return Ok(Some(SizeSuffix));
                }
                self.backup();
                if ends_number(c) {
                    self.emit(TokenKind::Integer);
                    return self.pop();
                }
                self.string_state = BareString;
                BareString
            }
            DateAfterYear => {
                for expected in "00-00T00:00:00Z".chars() {
                    let c = self.next();
                    let fits = if expected == '0' {
                        is_digit(c)
                    } else {
                        c == Some(expected)
                    };
                    if !fits {
                        let wanted = if expected == '0' {
                            "digit".to_owned()
                        } else {
                            format!("'{expected}'")
                        };
                        return self.fail(format!(
                            "Expected {wanted} in ISO8601 datetime, but found '{}' instead.",
                            shown(c)
                        ));
                    }
                }
                self.emit(TokenKind::DateTime);
                return self.pop();
            }
            NegativeNumberStart => {
                let c = self.next();
                if !is_digit(c) {
                    if c == Some('.') {
                        return self.fail("Floats must start with a digit, not '.'.".to_owned());
                    }
                    return self.fail(format!("Expected a digit but got '{}'.", shown(c)));
                }
                NegativeNumber
            }
            NegativeNumber => {
                let c = self.next();
                match c {
                    _ if is_digit(c) => NegativeNumber,
                    Some('.') => FloatStart,
                    _ if is_size_suffix(c) => SizeSuffix,
                    _ => {
                        self.backup();
                        self.emit(TokenKind::Integer);
                        return self.pop();
                    }
                }
            }
            FloatStart => {
                let c = self.next();
                if !is_digit(c) {
                    return self.fail(format!(
                        "Floats must have a digit after the '.', but got '{}' instead.",
                        shown(c)
                    ));
                }
                Float
            }
            Float => {
                let c = self.next();
                match c {
                    _ if is_digit(c) => Float,
                    // A second dot: an address such as `127.0.0.1:4222`, not a float.
                    Some('.') => IpAddress,
                    _ => {
                        self.backup();
                        self.emit(TokenKind::Float);
                        return self.pop();
                    }
                }
            }
            IpAddress => {
                let c = self.next();
                if is_digit(c) || matches!(c, Some('.' | ':' | '-')) {
                    IpAddress
                } else {
                    self.backup();
                    self.emit(TokenKind::String);
                    return self.pop();
                }
            }
            Comment => {
                let c = self.peek();
                if c.is_none() || is_newline(c) {
                    self.ignore();
                    return self.pop();
                }
                self.next();
                Comment
            }
        };
        Ok(Some(next))
    }

    /// A key followed by whitespace: `include` starts an include, anything else is a key.
    fn key_or_include(&mut self, key_end: State, after_include: Option<State>) -> State {
        if self.pending().eq_ignore_ascii_case("include") {
            self.ignore();
            if let Some(state) = after_include {
                self.push(state);
            }
            return State::IncludeStart;
        }
        self.emit(TokenKind::Key);
        key_end
    }

    fn array_end(&mut self) -> Result<Option<State>, LexError> {
        self.ignore();
        self.emit(TokenKind::ArrayEnd);
        self.pop()
    }

    fn map_end(&mut self) -> Result<Option<State>, LexError> {
        self.ignore();
        self.emit(TokenKind::MapEnd);
        self.pop()
    }

    fn unterminated(&mut self) -> Result<Option<State>, LexError> {
        if self.pos > self.start || self.escaped.is_some() {
            return self.fail("Unexpected EOF.".to_owned());
        }
        // Nothing after the opening quote: the key is left without a value.
        Ok(None)
    }

    /// Keeps the text before a backslash; the escape's decoding follows it.
    fn save_escaped_part(&mut self) {
        let before = self
            .input
            .get(self.start..self.pos - 1)
            .unwrap_or_default()
            .to_owned();
        self.escaped
            .get_or_insert_with(String::new)
            .push_str(&before);
        self.start = self.pos;
    }

    /// `\xHH`: two hex digits, one byte (decoded as a character).
    fn hex_escape(&mut self) -> Result<State, LexError> {
        let mut digits = String::new();
        for _ in 0..2 {
            let c = self.next();
            if c.is_none() || is_newline(c) {
                return self.fail(
                    "Expected two hexadecimal digits after '\\x', but hit end of line".to_owned(),
                );
            }
            digits.extend(c);
        }
        let byte = u8::from_str_radix(&digits, 16).map_err(|_| {
            self.error(format!(
                "Expected two hexadecimal digits after '\\x', but got '{digits}'"
            ))
        })?;
        self.escaped
            .get_or_insert_with(String::new)
            .push(char::from(byte));
        self.start = self.pos;
        Ok(self.string_state)
    }

    /// Whether the `)` just read stands alone on its line, closing a block string.
    fn block_closes(&self) -> bool {
        let bytes = self.input.as_bytes();
        let before = self.pos.checked_sub(2).and_then(|i| bytes.get(i));
        let after = bytes.get(self.pos);
        before == Some(&b'\n') && matches!(after, None | Some(b'\n'))
    }
}

fn is_bool_word(text: &str) -> bool {
    ["true", "false", "yes", "no", "on", "off"]
        .iter()
        .any(|word| text.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<(TokenKind, std::string::String)> {
        match tokenize(input) {
            Ok(tokens) => tokens.into_iter().map(|t| (t.kind, t.text)).collect(),
            Err(error) => panic!("{input:?}: {error:?}"),
        }
    }

    use TokenKind::*;

    #[test]
    fn separators_and_terminators() {
        for input in ["a = 1", "a: 1", "a 1", "a=1;", "a:1,", "  a\t=\t1 # c"] {
            assert_eq!(
                kinds(input),
                vec![(Key, "a".into()), (Integer, "1".into())],
                "{input:?}"
            );
        }
    }

    #[test]
    fn numbers_become_strings_when_letters_follow() {
        assert_eq!(kinds("a: 10s")[1], (String, "10s".into()));
        assert_eq!(kinds("a: 300ms")[1], (String, "300ms".into()));
        assert_eq!(kinds("a: 64MB")[1], (Integer, "64MB".into()));
        assert_eq!(kinds("a: 1GiB")[1], (Integer, "1GiB".into()));
        assert_eq!(kinds("a: 1.5")[1], (Float, "1.5".into()));
        assert_eq!(
            kinds("a: 127.0.0.1:4222")[1],
            (String, "127.0.0.1:4222".into())
        );
        assert_eq!(kinds("a: -1")[1], (Integer, "-1".into()));
        assert_eq!(
            kinds("a: 2026-11-26T10:00:00Z")[1],
            (DateTime, "2026-11-26T10:00:00Z".into())
        );
    }

    #[test]
    fn strings_bools_and_variables() {
        assert_eq!(kinds("a: nats://h:1")[1], (String, "nats://h:1".into()));
        assert_eq!(kinds(r#"a: "x\ty\x41""#)[1], (String, "x\tyA".into()));
        assert_eq!(kinds(r"a: 'x\ty'")[1], (String, r"x\ty".into()));
        assert_eq!(kinds("a: Yes")[1], (Bool, "Yes".into()));
        assert_eq!(kinds("a: $b")[1], (Variable, "b".into()));
        assert_eq!(
            kinds("a: (\nline one\n  two\n)\n")[1],
            (String, "\nline one\n  two\n".into())
        );
    }

    #[test]
    fn includes_and_blocks() {
        assert_eq!(kinds("include ./x.conf")[0], (Include, "./x.conf".into()));
        assert_eq!(kinds("include 'x y.conf'")[0], (Include, "x y.conf".into()));
        assert_eq!(
            kinds("m { include b.conf }"),
            vec![
                (Key, "m".into()),
                (MapStart, "".into()),
                (Include, "b.conf".into()),
                (MapEnd, "".into())
            ]
        );
        assert_eq!(
            kinds("{\"port\": 1}"),
            vec![(Key, "port".into()), (Integer, "1".into())]
        );
    }

    #[test]
    fn errors_are_located() {
        let error = tokenize("a: 1\nb: 2 x").err().map(|e| e.offset);
        assert_eq!(error, Some(10));
        assert!(tokenize("a: [1,,2]").is_err());
        assert!(tokenize("a: \"open").is_err());
        assert!(tokenize("a:\n1").is_err());
    }
}
