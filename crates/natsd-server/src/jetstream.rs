//! What the monitoring endpoints ask of JetStream (`/jsz`, the `jetstream` part of
//! `/varz`, the `/healthz` checks, `jetstream_enabled` in `/accountz`), as a trait the
//! JetStream extension implements and registers, so the endpoints stay here and the
//! figures stay with the streams.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `/jsz`'s options, under the `$SYS` request's JSON names (the HTTP query names differ
/// for two: `acc` and `consumers`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JszOptions {
    pub account: String,
    pub accounts: bool,
    pub streams: bool,
    #[serde(rename = "consumer")]
    pub consumers: bool,
    pub config: bool,
    pub offset: i64,
    pub limit: i64,
    pub leader_only: bool,
    pub raft: bool,
    pub stream_leader_only: bool,
}

impl JszOptions {
    /// Completes the options as nats-server does: consumers need streams, streams of no
    /// one account need the accounts, and a limit of 0 means 1024.
    pub fn completed(mut self) -> JszOptions {
        self.streams |= self.consumers;
        self.accounts |= self.streams && self.account.is_empty();
        self.offset = self.offset.max(0);
        if self.limit == 0 {
            self.limit = 1024;
        }
        self
    }
}

/// The account-wide usage `/jsz` and `/varz` report, in nats-server's field order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JetStreamUsage {
    pub memory: u64,
    pub storage: u64,
    pub reserved_memory: u64,
    pub reserved_storage: u64,
    pub accounts: u64,
    pub ha_assets: u64,
    pub api: ApiStats,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ApiStats {
    pub level: u64,
    pub total: u64,
    pub errors: u64,
}

/// What JetStream puts into `/jsz` around the server's id and the time; the nested
/// objects come written, in nats-server's field order.
#[derive(Debug, Clone, Default)]
pub struct JszReport {
    pub usage: JetStreamUsage,
    /// `JetStreamConfig`.
    pub config: Option<Box<RawValue>>,
    /// `JSLimitOpts`.
    pub limits: Option<Box<RawValue>>,
    pub streams: u64,
    pub consumers: u64,
    pub messages: u64,
    pub bytes: u64,
    /// With `raft`: the streams and consumers this server leads.
    pub leaders: Option<(u64, u64)>,
    pub account_details: Vec<Box<RawValue>>,
    /// JetStream accounts.
    pub total: u64,
}

/// `/healthz`'s options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HealthzOptions {
    #[serde(rename = "js-enabled-only")]
    pub js_enabled_only: bool,
    #[serde(rename = "js-server-only")]
    pub js_server_only: bool,
    #[serde(rename = "js-meta-only")]
    pub js_meta_only: bool,
    pub account: String,
    pub stream: String,
    pub consumer: String,
    pub details: bool,
}

/// One failed health check, as `/healthz` lists it with `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthProblem {
    /// `ACCOUNT`, `STREAM`, `CONSUMER`, `JETSTREAM`, `BAD_REQUEST`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consumer: String,
    pub error: String,
    /// The HTTP status it stands for.
    #[serde(skip)]
    pub status: u16,
}

/// JetStream as the monitoring endpoints see it.
pub trait JetStreamMonitor: Send + Sync {
    fn jsz(&self, options: &JszOptions) -> JszReport;
    /// `/varz`'s `jetstream`: `config`, `stats` and `limits`.
    fn varz(&self) -> Box<RawValue>;
    /// The JetStream checks `/healthz` runs with `options`: none failed when empty.
    fn health(&self, options: &HealthzOptions) -> Vec<HealthProblem>;
    /// Whether `account` has JetStream.
    fn enabled_for(&self, account: &str) -> bool;
}
