//! The natsd server: the async shell around the sans-IO protocol and subject crates.
//!
//! - [`server`]: [`Server`] binds the client port, runs the accept loop, keeps the registry of
//!   connections, and handles lame duck mode, shutdown and internal (server-side) clients.
//! - `client`: one reader task per connection runs the parser and handles each op (CONNECT,
//!   PUB, SUB, UNSUB, PING...), including server PINGs and stale detection.
//! - `outbound`: each connection's outbound queue and its writer task; [`outbound::Flusher`]
//!   wakes each touched writer once per read batch; max pending bytes and the write deadline
//!   turn a stuck reader into a closed slow consumer.
//! - `route`: fan-out of one message to what its subject matched, done on the publisher's
//!   task: every plain subscription, one random member per queue group.
//! - [`account`]: accounts own their `Sublist`; clients without an account run in the
//!   global account `$G`. `imports`: stream and service imports between accounts.
//! - [`tls`]: TLS settings, the rustls configuration and the handshake.
//! - [`resolver`]: account JWTs in operator mode (memory, or a directory) and their
//!   updates over `$SYS`.
//! - [`config`]: settings from a config file; [`reload`]: applying new ones while running.
//! - [`monitor`]: what `/varz`, `/connz` and friends report.
//! - [`subscription`], [`info`], [`options`], [`log`]: the data they share.
//!
//! Data path: socket -> read buffer -> `Parser` -> `Connection::publish` -> per-connection
//! result cache / account `Sublist` -> `route::deliver` -> subscriber queues -> writers.

pub mod account;
mod client;
pub mod config;
mod imports;
pub mod info;
pub mod log;
pub mod monitor;
pub mod options;
pub mod outbound;
pub mod reload;
pub mod resolver;
mod route;
pub mod server;
pub mod subscription;
pub mod tls;

pub use log::{Level, Logger};
pub use options::{Options, COMPATIBLE_VERSION, NATSD_VERSION};
pub use outbound::CloseReason;
pub use server::{host_port, InternalSubscription, Server, ServerError};
pub use subscription::{InternalHandler, InternalMsg};
