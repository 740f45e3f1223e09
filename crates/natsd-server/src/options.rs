//! Server settings with nats-server's defaults.

use std::path::PathBuf;
use std::time::Duration;

use natsd_auth::Authenticator;

use crate::account_config::AccountConfig;
use crate::jwt_store::ResolverOptions;
use crate::tls::TlsOptions;

/// The nats-server release whose client-facing behaviour natsd implements. Clients and test
/// harnesses gate features on this version, so INFO reports it.
pub const COMPATIBLE_VERSION: &str = "2.15.1";
/// natsd's own version.
pub const NATSD_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit natsd was built from (seven hex digits), empty outside a git checkout.
pub const GIT_COMMIT: &str = env!("NATSD_GIT_COMMIT");

pub const DEFAULT_PORT: u16 = 4222;
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
pub const DEFAULT_MAX_PENDING: usize = 64 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;
pub const DEFAULT_MAX_CLOSED_CLIENTS: usize = 10_000;
/// The system account's name unless `system_account` names another.
pub const DEFAULT_SYSTEM_ACCOUNT: &str = "$SYS";
/// Seconds a client has to authenticate, as in nats-server.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// `host:port` advertised to clients instead of the listen address.
    pub client_advertise: Option<String>,
    /// Monitoring interface; the client host when not set.
    pub http_host: Option<String>,
    /// Monitoring port: 0 is off, -1 picks a free port.
    pub http_port: i32,
    /// HTTPS monitoring port (with the client TLS settings): 0 is off, -1 picks a port.
    pub https_port: i32,
    pub http_base_path: String,
    pub ports_file_dir: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
    /// Bytes after which the log file is rotated; 0 never rotates.
    pub log_size_limit: u64,
    /// Rotated log files to keep; 0 keeps them all.
    pub log_max_num: u64,
    pub debug: bool,
    pub trace: bool,
    /// The trace log shows message headers, not whole payloads.
    pub trace_headers: bool,
    /// Payloads longer than this are cut short in the trace log; 0 shows them whole.
    pub max_traced_msg_len: usize,
    pub logtime: bool,
    pub logtime_utc: bool,
    pub server_tags: Vec<String>,
    /// Users, tokens and permissions (`authorization {}`, `no_auth_user`).
    pub authorization: Authenticator,
    /// How long a client has to send CONNECT when authentication is required.
    pub auth_timeout: Option<Duration>,
    /// Closed connections kept for `/connz?state=closed`.
    pub max_closed_clients: usize,
    /// Accounts beside the global one, with their exports and imports.
    pub accounts: Vec<AccountConfig>,
    /// Where account JWTs come from in operator mode.
    pub resolver: Option<ResolverOptions>,
    /// The system account's name; `$SYS` when not set.
    pub system_account: Option<String>,
    /// Run without a system account.
    pub no_system_account: bool,
    /// TLS for clients (`tls {}`, `--tls*`).
    pub tls: Option<TlsOptions>,
    /// With TLS configured, also serve clients that do not upgrade.
    pub allow_non_tls: bool,
    /// JetStream's settings (`jetstream {}`, `-js`, `-sd`); `None` when it is off.
    pub jetstream: Option<JetStreamOptions>,
    /// The directory under which `jetstream/` holds JetStream's data (`store_dir`, `-sd`);
    /// the system's temporary directory when not set.
    pub store_dir: Option<PathBuf>,
    /// The config file the settings came from, for reload and monitoring.
    pub config_file: Option<PathBuf>,
    /// `sha256:<hex>` of the config file, reported in `/varz`.
    pub config_digest: Option<String>,
}

impl Options {
    /// Where a directory resolver keeps account JWTs.
    pub fn resolver_dir(&self) -> Option<&std::path::Path> {
        self.resolver.as_ref()?.dir.as_deref()
    }

    /// The system account's name, unless there is none.
    pub fn system_account_name(&self) -> Option<&str> {
        (!self.no_system_account).then(|| {
            self.system_account
                .as_deref()
                .unwrap_or(DEFAULT_SYSTEM_ACCOUNT)
        })
    }
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
            client_advertise: None,
            http_host: None,
            http_port: 0,
            https_port: 0,
            http_base_path: String::new(),
            ports_file_dir: None,
            pid_file: None,
            log_file: None,
            log_size_limit: 0,
            log_max_num: 0,
            debug: false,
            trace: false,
            trace_headers: false,
            max_traced_msg_len: 0,
            logtime: true,
            logtime_utc: false,
            server_tags: Vec::new(),
            authorization: Authenticator::default(),
            auth_timeout: None,
            max_closed_clients: DEFAULT_MAX_CLOSED_CLIENTS,
            accounts: Vec::new(),
            resolver: None,
            system_account: None,
            no_system_account: false,
            tls: None,
            allow_non_tls: false,
            jetstream: None,
            store_dir: None,
            config_file: None,
            config_digest: None,
        }
    }
}

/// nats-server's default interval between syncs of JetStream's files.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(120);

/// `jetstream {}`: where JetStream keeps its data and how much it may use. The service
/// itself lives in its own crate and reads these.
#[derive(Debug, Clone, PartialEq)]
pub struct JetStreamOptions {
    /// Bytes of memory storage; `None` takes three quarters of the machine's memory.
    pub max_memory: Option<i64>,
    /// Bytes of file storage; `None` takes three quarters of the free disk.
    pub max_store: Option<i64>,
    pub domain: Option<String>,
    pub sync: SyncPolicy,
    /// Unknown fields in API requests are errors.
    pub strict: bool,
    pub unique_tag: Option<String>,
    /// Encryption at rest, when a key is set.
    pub encryption: Option<Encryption>,
    pub limits: JetStreamServerLimits,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        JetStreamOptions {
            max_memory: None,
            max_store: None,
            domain: None,
            sync: SyncPolicy::Every(DEFAULT_SYNC_INTERVAL),
            strict: true,
            unique_tag: None,
            encryption: None,
            limits: JetStreamServerLimits::default(),
        }
    }
}

/// When JetStream's files are synced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Before every acknowledgement (one sync covers all that arrived meanwhile).
    Always,
    Every(Duration),
}

/// `jetstream { key, cipher, prev_key }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    pub key: String,
    pub cipher: Cipher,
    /// The key the data was written with before a rotation to `key`.
    pub previous_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cipher {
    #[default]
    ChaCha20Poly1305,
    AesGcm,
}

/// `jetstream { limits {} }`: limits over every account; 0 or `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JetStreamServerLimits {
    pub max_ack_pending: i64,
    pub max_ha_assets: i64,
    pub max_request_batch: i64,
    pub duplicate_window: Option<Duration>,
}
