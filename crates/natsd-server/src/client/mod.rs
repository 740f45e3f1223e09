//! Client sessions: the NATS client protocol on any byte stream.
//!
//! - `greeting`: the INFO and, when configured, the TLS handshake before a session starts;
//!   then the session runs on whichever stream resulted.
//! - `session`: the reader task: parser, operations, PINGs, limits, authentication.

mod greeting;
mod session;

pub(crate) use greeting::serve;
