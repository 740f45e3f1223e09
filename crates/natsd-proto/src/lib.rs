//! Sans-IO codec for the NATS client protocol.
//!
//! - [`parser`]: the incremental, zero-copy parser for what clients send (`CONNECT`, `PUB`,
//!   `HPUB`, `SUB`, `UNSUB`, `PING`, `PONG`, `+OK`, `-ERR`, `INFO`), with `max_control_line`
//!   and `max_payload` enforced before anything is buffered.
//! - [`encode`]: what the server sends (`INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`).
//! - [`headers`]: `NATS/1.0` header blocks with optional status lines.
//! - [`errors`]: the exact `-ERR` texts of nats-server; [`ParseError`] maps parse failures to
//!   them.
//!
//! Bytes flow one way: the connection's read buffer goes into [`Parser::next_op`], which
//! yields [`ClientOp`]s holding `Bytes` slices of that buffer; the server answers through the
//! encoders into its outbound buffers. Nothing here owns a socket, a task or a clock.

pub mod encode;
mod error;
pub mod errors;
pub mod headers;
pub mod parser;

pub use error::ParseError;
pub use headers::{HeaderBlock, HeaderError};
pub use parser::{parse_size, ClientOp, Parser, ParserLimits, Publish, SharedSlice};
