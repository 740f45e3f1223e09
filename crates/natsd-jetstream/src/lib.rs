//! JetStream for natsd, plugged into the server as an [`Extension`]: it reaches clients
//! only through internal clients, as nats-server's JetStream does.
//!
//! - `config`: a stream's configuration checked and completed as nats-server does.
//! - `stream`: one stream as a state machine over its `natsd-store` store.
//! - `api`: the `$JS.API` requests and their JSON replies; `types` that JSON, `errors`
//!   the error table.
//! - `service` (here): the accounts JetStream serves, their streams on disk, and the tasks
//!   that take published messages into streams, many at a time with one write.
//! - `monitor`: JetStream's figures for `/jsz`, `/varz` and `/healthz`.
//! - `commit`: when those writes are synced and acknowledged: group commit across streams
//!   under `sync_interval: always`, a timer otherwise.

mod api;
mod commit;
pub mod config;
pub mod errors;
mod monitor;
mod service;
pub mod stream;
pub mod types;

pub use service::JetStream;
