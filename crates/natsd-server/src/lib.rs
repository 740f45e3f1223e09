//! The natsd server: the async shell around the sans-IO protocol, subject and auth crates.
//!
//! Modules in layers; each uses only those listed before it (a test holds the crate to
//! this order).
//!
//! 1. Settings and data: [`log`], [`tls`], `timefmt` (monitoring's time formats),
//!    `jwt_store` (the resolvers' account JWT files), `account_config` (what an account is
//!    configured with), [`options`], [`config`] (config file to options), [`info`] (INFO
//!    and CONNECT JSON).
//! 2. Connections and routing: [`conn`], the kind-neutral handle (kind, protocol,
//!    lifecycle, stats, outbound queue, writer task, [`Flusher`], the byte-stream seam);
//!    [`subscription`], subscriptions and the [`subscription::Deliver`] seam through which
//!    each subscriber frames what it takes; [`account`], accounts owning their subscription
//!    index and telling [`account::InterestObserver`]s when interest appears or goes;
//!    `delivery`, the fan-out of one message; [`internal`], internal clients that subscribe
//!    and publish for the server's own services; `client_conn`, a client as other tasks see
//!    it (its `MSG`/`HMSG` framing and its permissions); `stats`, what monitoring keeps;
//!    [`jetstream`], what monitoring asks of JetStream, which implements it.
//! 3. The server's state: [`server`], the registry of connections, accounts and the trust
//!    they are admitted under (one owner, one lock), lame duck and shutdown, and the
//!    [`Extension`] hook.
//! 4. Services plugged in as extensions: [`monitor`] (the providers behind `/varz`,
//!    `/connz`... and their `$SYS` requests, advisories), `imports` (stream and service
//!    imports between accounts), [`reload`] (new settings while running), [`resolver`]
//!    (account JWT updates over `$SYS`).
//! 5. Sessions and listeners: `client` (greeting, TLS and the client session's reader
//!    task), [`listener`] (one accept loop for every listener kind, and server start).
//!
//! One `PUB` on its way: socket -> the session's read buffer -> `Parser` ->
//! `Session::publish` (permissions, the session's cache of matches, else
//! [`account::Account::matches`]) -> `delivery::deliver` -> each subscription's
//! [`subscription::Deliver`] target (`ClientConn` checks echo and permissions, then
//! encodes `MSG`/`HMSG` into the subscriber's outbound queue and marks it in the
//! publisher's [`Flusher`]) -> after the read batch, the flusher wakes each writer once ->
//! the writer task's vectored write (and flush) to the subscriber's socket.

pub mod account;
mod account_config;
mod client;
mod client_conn;
pub mod config;
pub mod conn;
mod delivery;
mod imports;
pub mod info;
pub mod internal;
pub mod jetstream;
mod jwt_store;
pub mod listener;
pub mod log;
pub mod monitor;
pub mod options;
pub mod reload;
pub mod resolver;
pub mod server;
mod stats;
pub mod subscription;
pub mod timefmt;
pub mod tls;

pub use conn::{CloseReason, Flusher};
pub use internal::{InternalClient, InternalHandler, InternalMsg, InternalSubscription};
pub use jwt_store::{ResolverKind, ResolverOptions};
pub use log::{Level, Logger};
pub use options::{Options, COMPATIBLE_VERSION, NATSD_VERSION};
pub use server::{host_port, Extension, Server, ServerError};
