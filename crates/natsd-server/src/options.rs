//! Server settings with nats-server's defaults.

use std::time::Duration;

/// The nats-server release whose client-facing behaviour natsd implements. Clients and test
/// harnesses gate features on this version, so INFO reports it.
pub const COMPATIBLE_VERSION: &str = "2.15.1";
/// natsd's own version.
pub const NATSD_VERSION: &str = env!("CARGO_PKG_VERSION");

pub const DEFAULT_PORT: u16 = 4222;
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
pub const DEFAULT_MAX_PENDING: usize = 64 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;

/// Everything that shapes a running server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Interface to listen on for clients.
    pub host: String,
    /// Client port; `None` picks a free port (nats-server's `-p -1`).
    pub port: Option<u16>,
    /// Server name; the server id when empty.
    pub server_name: Option<String>,
    pub max_payload: usize,
    pub max_control_line: usize,
    /// Outbound bytes a connection may have queued before it is closed as a slow consumer.
    pub max_pending: usize,
    pub max_connections: usize,
    /// Subscriptions per connection; 0 means no limit.
    pub max_subscriptions: usize,
    pub ping_interval: Duration,
    pub ping_max: u32,
    /// How long one flush to a client may block before it is a slow consumer.
    pub write_deadline: Duration,
    pub lame_duck_duration: Duration,
    pub lame_duck_grace_period: Duration,
    pub no_header_support: bool,
    pub disable_sublist_cache: bool,
    /// Whether the first server PING goes out early (after about 2 s), as nats-server does.
    pub short_first_ping: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "0.0.0.0".to_owned(),
            port: Some(DEFAULT_PORT),
            server_name: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_pending: DEFAULT_MAX_PENDING,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_subscriptions: 0,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            no_header_support: false,
            disable_sublist_cache: false,
            short_first_ping: true,
        }
    }
}
