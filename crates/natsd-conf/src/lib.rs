//! Sans-IO parser for the NATS server configuration format.
//!
//! - `lex`: the lexer, a state machine that follows nats-server's token for token, quirks
//!   included, since existing config files depend on them.
//! - [`parse`]: tokens to a tree of [`Value`]s; resolves `$variables` (from the file's maps,
//!   then the environment) and `include` files through a [`Host`].
//! - [`value`]: the tree. Every key and value keeps its file, line and column, so that the
//!   settings layer can name them in its errors.
//!
//! Text flows `tokenize` -> `Parser` -> [`Map`]; the only I/O is the [`Host`] (the real
//! file system and environment by default, a fake in tests).

mod lex;
pub mod parse;
pub mod value;

pub use parse::{parse_file, parse_file_with, parse_str, ConfError, Host, System};
pub use value::{parse_duration, Entry, Kind, Map, Pos, Value, ValueError};
