//! Client sessions: the NATS client protocol on any byte stream.
//!
//! - `callout`: asking the auth callout service who a client is.
//! - `greeting`: the INFO and, when configured, the TLS handshake before a session starts;
//!   then the session runs on whichever stream resulted.
//! - `session`: the reader task: parser, operations, PINGs, limits, authentication.
//! - `trace`: message tracing (`Nats-Trace-Dest`): what a traced message did, reported as
//!   nats-server reports it.

mod callout;
mod greeting;
mod session;
mod trace;

pub(crate) use greeting::serve;
