//! Settings from a parsed config file: every top-level key of nats-server is known, the ones
//! natsd serves are applied to [`Options`], and the blocks for capabilities natsd lacks yet
//! are checked (type and keys) and named in [`ConfigReport::unsupported`].
//!
//! As in nats-server, keys are case-insensitive, an unknown key is an error unless the file
//! used it as a `$variable`, and the older number-of-seconds form of a duration is a warning.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use natsd_conf::{Entry, Kind, Map, Pos, Value, ValueError};

use natsd_auth::jwt::Trust;
use natsd_auth::permissions::Entry as PermissionEntry;
use natsd_auth::{AuthCallout, Authenticator, Permissions, ResponsePermission, SubjectRule, User};

mod jetstream;
mod mappings;

use crate::account_config::{
    AccountConfig, AccountLimits, Export, Import, MsgTraceConfig, ResponseType, ShareKind,
};
use crate::jwt_store::{ResolverKind, ResolverOptions};
use crate::options::Options;
use crate::tls::TlsOptions;

/// A problem with one setting, where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl From<ValueError> for ConfigIssue {
    fn from(error: ValueError) -> Self {
        ConfigIssue {
            pos: error.pos,
            message: error.message,
        }
    }
}

/// JWTs named by the file, checked once the whole file is read.
#[derive(Debug, Default)]
pub(crate) struct JwtSources {
    operators: Vec<(String, Pos)>,
    preload: Vec<(String, Pos)>,
}

/// What applying a config file found.
#[derive(Debug, Default)]
pub struct ConfigReport {
    pub(crate) jwt: JwtSources,
    /// Settings that stop the server from starting.
    pub errors: Vec<ConfigIssue>,
    /// Settings accepted in an older form; `-t` treats them as errors, as nats-server does.
    pub warnings: Vec<ConfigIssue>,
    /// Blocks and keys natsd parses but does not serve yet.
    pub unsupported: Vec<String>,
    /// What the server should warn about at start (account JWTs it skipped).
    pub notices: Vec<String>,
}

/// Capabilities that natsd does not serve yet, with the keys nats-server accepts in their
/// blocks, so that a typo there is still an error.
const CLUSTER_KEYS: &[&str] = &[
    "name",
    "listen",
    "host",
    "net",
    "port",
    "authorization",
    "routes",
    "tls",
    "advertise",
    "cluster_advertise",
    "no_advertise",
    "connect_retries",
    "connect_backoff",
    "permissions",
    "pool_size",
    "accounts",
    "compression",
    "ping_interval",
    "ping_max",
    "write_deadline",
    "write_timeout",
];
const GATEWAY_KEYS: &[&str] = &[
    "name",
    "listen",
    "host",
    "net",
    "port",
    "authorization",
    "tls",
    "advertise",
    "connect_retries",
    "connect_backoff",
    "gateways",
    "reject_unknown",
    "reject_unknown_cluster",
    "write_deadline",
    "write_timeout",
];
const LEAFNODE_KEYS: &[&str] = &[
    "listen",
    "host",
    "net",
    "port",
    "authorization",
    "remotes",
    "reconnect",
    "reconnect_delay",
    "dial_timeout",
    "tls",
    "advertise",
    "no_advertise",
    "min_version",
    "compression",
    "isolate_leafnode_interest",
    "write_deadline",
    "write_timeout",
];
const WEBSOCKET_KEYS: &[&str] = &[
    "listen",
    "host",
    "net",
    "port",
    "advertise",
    "tls",
    "no_tls",
    "same_origin",
    "allowed_origins",
    "compression",
    "authorization",
    "no_auth_user",
    "jwt_cookie",
    "user_cookie",
    "pass_cookie",
    "token_cookie",
    "handshake_timeout",
    "headers",
];
const MQTT_KEYS: &[&str] = &[
    "listen",
    "host",
    "net",
    "port",
    "tls",
    "authorization",
    "no_auth_user",
    "ack_wait",
    "js_api_timeout",
    "max_ack_pending",
    "stream_replicas",
    "consumer_replicas",
    "consumer_memory_storage",
    "consumer_inactive_threshold",
    "js_domain",
    "reject_qos2_publish",
    "downgrade_qos2_subscribe",
];
const TLS_KEYS: &[&str] = &[
    "cert_file",
    "key_file",
    "ca_file",
    "verify",
    "verify_and_map",
    "verify_cert_and_check_known_urls",
    "insecure",
    "cipher_suites",
    "curve_preferences",
    "allow_insecure_cipher_suites",
    "min_version",
    "timeout",
    "connection_rate_limit",
    "pinned_certs",
    "handshake_first",
    "first",
    "cert_store",
    "cert_match_by",
    "cert_match",
    "ca_certs_match",
    "cert_match_skip_invalid",
    "certs",
    "ocsp_peer",
];

/// Applies a parsed config file to `opts`.
pub fn apply(opts: &mut Options, map: &Map) -> ConfigReport {
    let mut report = ConfigReport::default();
    for entry in map.entries() {
        if let Err(issue) = apply_entry(opts, entry, &mut report) {
            report.errors.push(issue);
        }
    }
    opts.authorization.map_certificates = opts.tls.as_ref().is_some_and(|t| t.verify_and_map);
    let mut notices = Vec::new();
    if let Err(issue) = operator_mode(opts, &report.jwt, &mut notices) {
        report.errors.push(issue);
    }
    report.notices.extend(notices);
    if let Some(entry) = map.entry("accounts") {
        for problem in check_imports(opts) {
            report.errors.push(ConfigIssue {
                pos: entry.key_pos.clone(),
                message: problem,
            });
        }
    }
    let auth = &opts.authorization;
    if let (Some(callout), Some(entry)) = (&auth.callout, map.entry("authorization")) {
        for name in &callout.allowed_accounts {
            if !opts.accounts.iter().any(|a| &a.name == name) {
                report.errors.push(ConfigIssue {
                    pos: entry.key_pos.clone(),
                    message: format!(
                        "auth_callout allowed account {name:?} not found in configured accounts"
                    ),
                });
            }
        }
    }
    if let (Some(name), Some(entry)) = (&auth.no_auth_user, map.entry("no_auth_user")) {
        if !auth.users.iter().any(|u| &u.name == name) {
            report.errors.push(ConfigIssue {
                pos: entry.key_pos.clone(),
                message: format!(
                    "no_auth_user: {name:?} not present as user or nkey in authorization block or account configuration"
                ),
            });
        }
    }
    report
}

/// The global account's config, made when first needed: top-level settings such as
/// `mappings` apply to it, as nats-server applies them.
fn global_account(opts: &mut Options) -> &mut AccountConfig {
    let global = crate::account_config::GLOBAL_ACCOUNT;
    match opts.accounts.iter().position(|a| a.name == global) {
        Some(at) => &mut opts.accounts[at],
        None => {
            opts.accounts.push(AccountConfig {
                name: global.to_owned(),
                ..AccountConfig::default()
            });
            let last = opts.accounts.len() - 1;
            &mut opts.accounts[last]
        }
    }
}

fn unknown(entry: &Entry) -> ConfigIssue {
    ConfigIssue {
        pos: entry.key_pos.clone(),
        message: format!("unknown field {:?}", entry.key),
    }
}

fn issue(value: &Value, message: String) -> ConfigIssue {
    ConfigIssue {
        pos: value.pos.clone(),
        message,
    }
}

fn apply_entry(
    opts: &mut Options,
    entry: &Entry,
    report: &mut ConfigReport,
) -> Result<(), ConfigIssue> {
    let v = &entry.value;
    let key = entry.key.to_ascii_lowercase();
    match key.as_str() {
        "listen" => {
            let (host, port) = listen(v)?;
            if let Some(host) = host {
                opts.host = host;
            }
            opts.port = client_port(v, port)?;
        }
        "host" | "net" => opts.host = v.as_str()?.to_owned(),
        "port" => opts.port = client_port(v, v.as_integer()?)?,
        "client_advertise" => opts.client_advertise = Some(v.as_str()?.to_owned()),
        "server_name" => {
            let name = v.as_str()?;
            if name.contains(' ') {
                return Err(issue(v, "server name cannot contain spaces".to_owned()));
            }
            opts.server_name = Some(name.to_owned());
        }
        "server_tags" => opts.server_tags = strings(v)?,
        "debug" => opts.debug = v.as_bool()?,
        "trace" | "trace_verbose" => opts.trace = v.as_bool()?,
        // As in nats-server, it sets the trace log on or off with it.
        "trace_headers" => {
            opts.trace_headers = v.as_bool()?;
            opts.trace = opts.trace_headers;
        }
        "max_traced_msg_len" => {
            opts.max_traced_msg_len = usize::try_from(v.as_int()?).unwrap_or(0);
        }
        "logtime" => opts.logtime = v.as_bool()?,
        "logtime_utc" => opts.logtime_utc = v.as_bool()?,
        "logfile" | "log_file" => opts.log_file = Some(PathBuf::from(v.as_str()?)),
        "logfile_size_limit" | "log_size_limit" => opts.log_size_limit = v.as_integer()?,
        "logfile_max_num" | "log_max_num" => opts.log_max_num = v.as_integer()?,
        "pidfile" | "pid_file" => opts.pid_file = Some(PathBuf::from(v.as_str()?)),
        "ports_file_dir" => opts.ports_file_dir = Some(PathBuf::from(v.as_str()?)),
        "http" => {
            let (host, port) = listen(v)?;
            opts.http_host = host;
            opts.http_port = listener_port(v, port)?;
        }
        "http_port" | "monitor_port" => opts.http_port = listener_port(v, v.as_integer()?)?,
        "https" => {
            let (host, port) = listen(v)?;
            opts.http_host = host;
            opts.https_port = listener_port(v, port)?;
        }
        "https_port" => opts.https_port = listener_port(v, v.as_integer()?)?,
        "http_base_path" => opts.http_base_path = v.as_str()?.to_owned(),
        "max_payload" => opts.max_payload = limit_i32(v, &key)?,
        "max_control_line" => opts.max_control_line = limit_i32(v, &key)?,
        "max_pending" => opts.max_pending = v.as_integer()?,
        "max_connections" | "max_conn" => {
            // nats-server reads 0 as "no limit".
            opts.max_connections = match v.as_integer::<usize>()? {
                0 => usize::MAX,
                n => n,
            }
        }
        "max_subscriptions" | "max_subs" => opts.max_subscriptions = v.as_integer()?,
        "ping_interval" => opts.ping_interval = duration(v, &key, report)?,
        "ping_max" => opts.ping_max = v.as_integer()?,
        "write_deadline" => opts.write_deadline = duration(v, &key, report)?,
        "lame_duck_duration" => {
            let d = v.as_duration()?;
            if d < Duration::from_secs(30) {
                return Err(issue(
                    v,
                    format!("invalid lame_duck_duration of {d:?}, minimum is 30 seconds"),
                ));
            }
            opts.lame_duck_duration = d;
        }
        "lame_duck_grace_period" => opts.lame_duck_grace_period = v.as_duration()?,
        "no_header_support" => opts.no_header_support = v.as_bool()?,
        "disable_sublist_cache" | "no_sublist_cache" => opts.disable_sublist_cache = v.as_bool()?,
        "authorization" => authorization(v, opts)?,
        "no_auth_user" => opts.authorization.no_auth_user = Some(v.as_str()?.to_owned()),
        "max_closed_clients" => opts.max_closed_clients = v.as_integer()?,
        "max_sub_tokens" | "max_subscription_tokens" => {
            let n = v.as_int()?;
            if !(1..=255).contains(&n) {
                return Err(issue(v, format!("{key} must be between 1 and 255")));
            }
            report.unsupported.push(key);
        }
        // Accepted with the right type; natsd's behaviour does not depend on them.
        "no_fast_producer_stall"
        | "connect_error_reports"
        | "reconnect_error_reports"
        | "prof_port"
        | "prof_block_rate" => {
            scalar(v)?;
        }
        "cluster" => block(v, &key, CLUSTER_KEYS, report)?,
        "gateway" => block(v, &key, GATEWAY_KEYS, report)?,
        "leaf" | "leafnodes" => block(v, "leafnodes", LEAFNODE_KEYS, report)?,
        "websocket" | "ws" => block(v, "websocket", WEBSOCKET_KEYS, report)?,
        "mqtt" => block(v, &key, MQTT_KEYS, report)?,
        "tls" => opts.tls = Some(tls(v, report)?),
        "allow_non_tls" => opts.allow_non_tls = v.as_bool()?,
        "jetstream" => jetstream::server(v, opts, report)?,
        "store_dir" | "storedir" => jetstream::store_dir(v, opts)?,
        "accounts" => accounts(v, opts, report)?,
        "operator" | "operators" | "root" | "roots" | "root_operator" | "root_operators" => {
            for source in strings(v)? {
                report
                    .jwt
                    .operators
                    .push((operator_jwt(&source, v)?, v.pos.clone()));
            }
        }
        "resolver" | "account_resolver" | "accounts_resolver" => {
            opts.resolver = resolver(v, report)?;
        }
        "resolver_preload" => {
            for entry in v.as_map()?.entries() {
                let token = entry.value.as_str()?.to_owned();
                report.jwt.preload.push((token, entry.value.pos.clone()));
            }
        }
        "system_account" | "system" => opts.system_account = Some(v.as_str()?.to_owned()),
        "no_system_account" | "no_system" | "no_sys_acc" => opts.no_system_account = v.as_bool()?,
        "mappings" | "maps" => global_account(opts).mappings = mappings::mappings(entry)?,
        "resolver_tls"
        | "resolver_pinned_accounts"
        | "trusted"
        | "trusted_keys"
        | "ocsp"
        | "ocsp_cache"
        | "syslog"
        | "remote_syslog"
        | "server_metadata"
        | "feature_flags"
        | "default_js_domain"
        | "default_sentinel"
        | "proxies"
        | "proxy_protocol"
        | "write_timeout" => report.unsupported.push(key),
        _ if entry.used_as_variable => {}
        _ => return Err(unknown(entry)),
    }
    Ok(())
}

/// An operator JWT given inline, or the file holding it (as `nsc` writes it, possibly
/// between `-----BEGIN ... JWT-----` lines).
fn operator_jwt(source: &str, v: &Value) -> Result<String, ConfigIssue> {
    if source.starts_with("eyJ") {
        return Ok(source.to_owned());
    }
    let text = std::fs::read_to_string(source)
        .map_err(|e| issue(v, format!("error reading operator JWT {source:?}: {e}")))?;
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with("eyJ") && line.matches('.').count() == 2)
        .map(str::to_owned)
        .ok_or_else(|| issue(v, format!("no JWT in {source:?}")))
}

/// `resolver: MEMORY`, `URL(...)` (not served), or `{ type: full|cache, dir, ... }`.
fn resolver(v: &Value, report: &mut ConfigReport) -> Result<Option<ResolverOptions>, ConfigIssue> {
    let invalid = || {
        issue(
            v,
            "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])"
                .to_owned(),
        )
    };
    let map = match &v.kind {
        // nats-server takes any text containing "mem" for the memory resolver.
        Kind::String(s) if s.to_ascii_lowercase().contains("mem") => {
            return Ok(Some(ResolverOptions::default()))
        }
        Kind::String(s) if s.to_ascii_uppercase().starts_with("URL") => {
            report.unsupported.push("resolver URL(...)".to_owned());
            return Ok(None);
        }
        Kind::Map(map) => map,
        _ => return Err(invalid()),
    };
    let mut options = ResolverOptions::default();
    let mut kind = None;
    let (mut ttl_set, mut interval_set) = (false, false);
    for entry in map.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "type" => {
                kind = Some(match value.as_str()?.to_ascii_uppercase().as_str() {
                    "FULL" => ResolverKind::Full,
                    "CACHE" => ResolverKind::Cache,
                    "MEM" | "MEMORY" => ResolverKind::Memory,
                    _ => return Err(invalid()),
                })
            }
            "dir" => options.dir = Some(PathBuf::from(value.as_str()?)),
            "allow_delete" => options.allow_delete = value.as_bool()?,
            "hard_delete" => options.hard_delete = value.as_bool()?,
            "limit" => options.limit = value.as_integer::<i64>()?.try_into().unwrap_or(0),
            "ttl" => {
                options.ttl = duration(value, "ttl", report)?;
                ttl_set = true;
            }
            // Syncing and fetching between servers wait for clustering: checked, not kept.
            "interval" => {
                duration(value, "interval", report)?;
                interval_set = true;
            }
            "timeout" => {
                duration(value, "timeout", report)?;
            }
            _ => return Err(unknown(entry)),
        }
    }
    options.kind = kind.ok_or_else(invalid)?;
    let problem = match options.kind {
        ResolverKind::Memory => None,
        _ if options.dir.is_none() => Some("dir has no value and needs to point to a directory"),
        ResolverKind::Cache if interval_set => Some("CACHE does not accept sync"),
        ResolverKind::Cache if options.allow_delete => Some("CACHE does not accept allow_delete"),
        ResolverKind::Cache if options.hard_delete => Some("CACHE does not accept hard_delete"),
        ResolverKind::Full if ttl_set => Some("FULL does not accept ttl"),
        ResolverKind::Full if options.hard_delete && !options.allow_delete => {
            Some("hard_delete has no effect without delete")
        }
        _ => None,
    };
    if let Some(problem) = problem {
        return Err(issue(v, problem.to_owned()));
    }
    if options.kind == ResolverKind::Cache && options.limit == 0 {
        options.limit = 1000;
    }
    Ok(Some(options))
}

/// With operators configured, users come with JWTs: the trust chain is built and every
/// preloaded account becomes an account of the server.
fn operator_mode(
    opts: &mut Options,
    sources: &JwtSources,
    notices: &mut Vec<String>,
) -> Result<(), ConfigIssue> {
    let Some((_, first_pos)) = sources.operators.first() else {
        return Ok(());
    };
    let at = |pos: &Pos, error: natsd_auth::jwt::JwtError| ConfigIssue {
        pos: pos.clone(),
        message: error.to_string(),
    };
    let now = natsd_auth::jwt::now_unix();
    let operators: Vec<String> = sources
        .operators
        .iter()
        .map(|(jwt, _)| jwt.clone())
        .collect();
    let mut trust = Trust::from_operators(&operators, now).map_err(|e| at(first_pos, e))?;
    for (token, pos) in &sources.preload {
        trust.add_account(token, now).map_err(|e| at(pos, e))?;
    }
    if opts.system_account.is_none() {
        opts.system_account.clone_from(&trust.system_account);
    }
    let Some(resolver) = &opts.resolver else {
        return Err(ConfigIssue {
            pos: first_pos.clone(),
            message: "operators require an account resolver to be configured".to_owned(),
        });
    };
    if let Some(dir) = &resolver.dir {
        if opts.system_account.is_none() {
            return Err(ConfigIssue {
                pos: first_pos.clone(),
                message: "using nats based account resolver - the system account needs to be specified in configuration or the operator jwt".to_owned(),
            });
        }
        let preload: Vec<String> = sources.preload.iter().map(|(t, _)| t.clone()).collect();
        let skipped = crate::jwt_store::read_into(dir, &preload, &mut trust, now).map_err(|e| {
            ConfigIssue {
                pos: first_pos.clone(),
                message: format!("resolver dir {}: {e}", dir.display()),
            }
        })?;
        notices.extend(skipped);
        if let Some(resolver) = opts.resolver.as_mut() {
            resolver.preload = preload;
        }
    }
    opts.authorization.trust = Some(trust);
    Ok(())
}

/// `accounts { NAME { users, exports, imports } }` (or a list of names).
fn accounts(v: &Value, opts: &mut Options, report: &mut ConfigReport) -> Result<(), ConfigIssue> {
    if let Kind::Array(names) = &v.kind {
        for name in names {
            opts.accounts.push(AccountConfig {
                name: name.as_str()?.to_owned(),
                ..AccountConfig::default()
            });
        }
        return Ok(());
    }
    for entry in v.as_map()?.entries() {
        let mut account = AccountConfig {
            name: entry.key.clone(),
            ..AccountConfig::default()
        };
        let mut users = Vec::new();
        let mut defaults = None;
        for field in entry.value.as_map()?.entries() {
            let value = &field.value;
            match field.key.to_ascii_lowercase().as_str() {
                "users" => {
                    for user in value.as_array()? {
                        users.push(user_entry(user)?);
                    }
                }
                "exports" => {
                    for export in value.as_array()? {
                        account.exports.push(export_entry(export)?);
                    }
                }
                "imports" => {
                    for import in value.as_array()? {
                        account.imports.push(import_entry(import)?);
                    }
                }
                "default_permissions" => defaults = Some(permissions(value)?),
                "limits" => account.limits = account_limits(value)?,
                "msg_trace" | "trace_dest" => {
                    account.msg_trace = msg_trace(&field.value, &field.key, report)?;
                }
                "mappings" | "maps" => account.mappings = mappings::mappings(field)?,
                "jetstream" => account.jetstream = jetstream::account(field)?,
                "nkey" | "trace" => {
                    report
                        .unsupported
                        .push(format!("accounts.{}.{}", entry.key, field.key));
                }
                _ if field.used_as_variable => {}
                _ => return Err(unknown(field)),
            }
        }
        for mut user in users {
            user.account = Some(account.name.clone());
            if user.permissions.is_none() {
                user.permissions.clone_from(&defaults);
            }
            opts.authorization.users.push(user);
        }
        opts.accounts.push(account);
    }
    Ok(())
}

/// An account's `msg_trace: dest` or `msg_trace { dest, sampling }`, with nats-server's
/// checks and words: sampling is a number or a percentage, 100 when a destination has none.
fn msg_trace(
    v: &Value,
    key: &str,
    report: &mut ConfigReport,
) -> Result<Option<MsgTraceConfig>, ConfigIssue> {
    let dest_of = |value: &Value, key: &str| -> Result<String, ConfigIssue> {
        let Kind::String(dest) = &value.kind else {
            return Err(issue(value, format!("Field {key:?} should be a string")));
        };
        if !natsd_subject::is_valid_literal_subject(dest.as_bytes()) {
            return Err(issue(
                value,
                format!("Trace destination {dest:?} is not valid"),
            ));
        }
        Ok(dest.clone())
    };
    let (mut dest, mut sampling) = (None, None);
    match &v.kind {
        Kind::Map(map) => {
            for entry in map.entries() {
                let value = &entry.value;
                match entry.key.to_ascii_lowercase().as_str() {
                    "dest" => dest = Some(dest_of(value, &entry.key)?),
                    "sampling" => sampling = Some(trace_sampling(value, &entry.key)?),
                    _ if entry.used_as_variable => {}
                    _ => {
                        let field = &entry.key;
                        let text = format!(
                            "Unknown field {field:?} parsing account message trace map/struct {key:?}"
                        );
                        return Err(issue(value, text));
                    }
                }
            }
        }
        _ => dest = Some(dest_of(v, key)?),
    }
    let Some(dest) = dest else {
        if sampling.is_some() {
            report.warnings.push(issue(
                v,
                "Trace destination sampling ignored since no destination was set".to_owned(),
            ));
        }
        return Ok(None);
    };
    Ok(Some(MsgTraceConfig {
        dest,
        sampling: sampling.unwrap_or(100),
    }))
}

/// A `msg_trace` sampling: a number or a percentage, from 1 to 100.
fn trace_sampling(value: &Value, key: &str) -> Result<u8, ConfigIssue> {
    let n: i64 = match &value.kind {
        Kind::Integer(n) => *n,
        Kind::String(text) => text.trim_end_matches('%').parse().map_err(|_| {
            let text = format!("Invalid trace destination sampling value {text:?}");
            issue(value, text)
        })?,
        _ => {
            let text = format!(
                "Trace destination sampling field {key:?} should be an integer or a percentage"
            );
            return Err(issue(value, text));
        }
    };
    u8::try_from(n)
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| {
            // nats-server's spelling, typo included.
            let text =
                format!("Ttrace destination sampling value {n} is invalid, needs to be [1..100]");
            issue(value, text)
        })
}

/// `limits { max_connections, max_subscriptions, max_payload, max_leafnodes }`.
fn account_limits(v: &Value) -> Result<AccountLimits, ConfigIssue> {
    let mut limits = AccountLimits::default();
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        // nats-server reads -1 as "no limit".
        let limit =
            || -> Result<Option<usize>, ConfigIssue> { Ok(usize::try_from(value.as_int()?).ok()) };
        match entry.key.to_ascii_lowercase().as_str() {
            "max_connections" | "max_conn" => limits.max_connections = limit()?,
            "max_subscriptions" | "max_subs" => limits.max_subscriptions = limit()?,
            "max_payload" | "max_pay" => limits.max_payload = limit()?,
            "max_leafnodes" | "max_leafs" => {
                value.as_int()?;
            }
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    Ok(limits)
}

/// `{stream: "subj"}` or `{service: "subj", accounts: [...]}`.
fn export_entry(v: &Value) -> Result<Export, ConfigIssue> {
    let mut export = None;
    let mut accounts = None;
    let mut response = ResponseType::Singleton;
    let mut allow_trace = None;
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "allow_trace" => allow_trace = Some((value.as_bool()?, entry.key_pos.clone())),
            "stream" => export = Some((ShareKind::Stream, value.as_str()?.to_owned())),
            "service" => export = Some((ShareKind::Service, value.as_str()?.to_owned())),
            "accounts" => accounts = Some(strings(value)?),
            "response" | "response_type" => {
                response = match value.as_str()?.to_ascii_lowercase().as_str() {
                    "singleton" | "single" => ResponseType::Singleton,
                    "stream" | "streamed" => ResponseType::Stream,
                    "chunked" | "chunk" => ResponseType::Chunked,
                    other => return Err(issue(value, format!("unknown response type {other:?}"))),
                }
            }
            "response_threshold"
            | "threshold"
            | "latency"
            | "account_token_position"
            | "advertise" => {}
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    let (kind, subject) =
        export.ok_or_else(|| issue(v, "an export needs a stream or a service".to_owned()))?;
    let allow_trace = match allow_trace {
        Some((_, pos)) if kind != ShareKind::Service => {
            let message = "Detected allow_trace directive on non-service".to_owned();
            return Err(ConfigIssue { pos, message });
        }
        other => other.is_some_and(|(allow, _)| allow),
    };
    Ok(Export {
        kind,
        subject,
        accounts,
        response,
        token_required: false,
        allow_trace,
    })
}

/// `{stream: {account, subject}, prefix | to}` or `{service: {account, subject}, to}`.
fn import_entry(v: &Value) -> Result<Import, ConfigIssue> {
    let mut source = None;
    let (mut to, mut prefix) = (None, None);
    let mut share = false;
    let mut allow_trace = None;
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            kind @ ("stream" | "service") => {
                let map = value.as_map()?;
                let field = |name: &str| -> Result<String, ConfigIssue> {
                    map.get(name)
                        .ok_or_else(|| issue(value, format!("an import needs an {name}")))?
                        .as_str()
                        .map(str::to_owned)
                        .map_err(ConfigIssue::from)
                };
                let kind = if kind == "stream" {
                    ShareKind::Stream
                } else {
                    ShareKind::Service
                };
                source = Some((kind, field("account")?, field("subject")?));
            }
            "to" | "local_subject" => to = Some(value.as_str()?.to_owned()),
            "prefix" => prefix = Some(value.as_str()?.to_owned()),
            "share" => share = value.as_bool()?,
            "allow_trace" => allow_trace = Some((value.as_bool()?, entry.key_pos.clone())),
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    let (kind, account, subject) =
        source.ok_or_else(|| issue(v, "an import needs a stream or a service".to_owned()))?;
    let allow_trace = match allow_trace {
        Some((_, pos)) if kind != ShareKind::Stream => {
            let message = "Detected allow_trace directive on a non-stream".to_owned();
            return Err(ConfigIssue { pos, message });
        }
        other => other.is_some_and(|(allow, _)| allow),
    };
    Ok(Import {
        kind,
        account,
        subject,
        to,
        prefix,
        activated: false,
        share,
        allow_trace,
    })
}

/// Every import names a known account that exports it to the importer.
fn check_imports(opts: &Options) -> Vec<String> {
    let mut problems = Vec::new();
    for account in &opts.accounts {
        for import in &account.imports {
            match opts.accounts.iter().find(|a| a.name == import.account) {
                None => problems.push(format!(
                    "account {:?} imports from unknown account {:?}",
                    account.name, import.account
                )),
                Some(exporter) if exporter.export_for(import, &account.name).is_none() => problems
                    .push(format!(
                        "account {:?} is not authorized to import {:?} from account {:?}",
                        account.name, import.subject, import.account
                    )),
                Some(_) => {}
            }
        }
    }
    problems
}

/// `tls {}` for client connections. Keys rustls cannot honour are accepted and reported.
fn tls(v: &Value, report: &mut ConfigReport) -> Result<TlsOptions, ConfigIssue> {
    let map = v.as_map()?;
    let mut tls = TlsOptions::default();
    let (mut cert, mut key) = (None, None);
    let mut allow_insecure = false;
    for entry in map.entries() {
        let value = &entry.value;
        let name = entry.key.to_ascii_lowercase();
        match name.as_str() {
            "cert_file" => cert = Some(PathBuf::from(value.as_str()?)),
            "key_file" => key = Some(PathBuf::from(value.as_str()?)),
            "ca_file" => tls.ca_file = Some(PathBuf::from(value.as_str()?)),
            "verify" => tls.verify = value.as_bool()?,
            "verify_and_map" => tls.verify_and_map = value.as_bool()?,
            "timeout" => {
                tls.timeout = match value.kind {
                    Kind::String(_) => value.as_duration()?,
                    _ => value.as_seconds()?,
                }
            }
            "handshake_first" | "first" | "immediate" => {
                (tls.handshake_first, tls.handshake_first_fallback) = match &value.kind {
                    Kind::Bool(b) => (*b, None),
                    Kind::String(text) => match text.to_lowercase().as_str() {
                        "true" | "on" => (true, None),
                        "false" | "off" => (false, None),
                        "auto" | "auto_fallback" => {
                            (true, Some(crate::tls::DEFAULT_HANDSHAKE_FIRST_FALLBACK))
                        }
                        _ => match value.as_duration() {
                            Ok(delay) => (true, Some(delay)),
                            Err(_) => {
                                return Err(issue(
                                    value,
                                    format!("field {:?} value {text:?} is invalid", entry.key),
                                ))
                            }
                        },
                    },
                    other => {
                        return Err(issue(
                            value,
                            format!(
                                "field {:?} should be a boolean or string, got {}",
                                entry.key,
                                other.type_name()
                            ),
                        ))
                    }
                }
            }
            "pinned_certs" => tls.pinned_certs = strings(value)?,
            "cipher_suites" => {
                tls.cipher_suites = strings(value)?;
                for name in &tls.cipher_suites {
                    if crate::tls::go_cipher_suite(name).is_none() {
                        return Err(issue(value, format!("unrecognized cipher {name}")));
                    }
                }
            }
            "curve_preferences" => {
                tls.curve_preferences = strings(value)?;
                for name in &tls.curve_preferences {
                    if !crate::tls::is_go_curve(name) {
                        return Err(issue(
                            value,
                            format!("unrecognized curve preference {name}"),
                        ));
                    }
                }
            }
            "allow_insecure_cipher_suites" => allow_insecure = value.as_bool()?,
            // Known URLs exist for routes and gateways only, not for clients.
            "verify_cert_and_check_known_urls" => {
                if value.as_bool()? {
                    return Err(issue(
                        value,
                        "verify_cert_and_check_known_urls not supported in this context".to_owned(),
                    ));
                }
            }
            "min_version" => {
                tls.min_version_13 = match value.as_str()? {
                    "1.3" => true,
                    "1.2" => false,
                    other => {
                        return Err(issue(
                            value,
                            format!(
                                "unsupported TLS min_version {other:?}; natsd supports 1.2 and 1.3"
                            ),
                        ))
                    }
                }
            }
            other if TLS_KEYS.contains(&other) => report.unsupported.push(format!("tls.{other}")),
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    tls.cert_file =
        cert.ok_or_else(|| issue(v, "missing 'cert_file' in TLS configuration".to_owned()))?;
    tls.key_file =
        key.ok_or_else(|| issue(v, "missing 'key_file' in TLS configuration".to_owned()))?;
    if (tls.verify || tls.verify_and_map) && tls.ca_file.is_none() {
        return Err(issue(
            v,
            "'verify' needs a 'ca_file' in TLS configuration".to_owned(),
        ));
    }
    let insecure: Vec<&str> = tls
        .cipher_suites
        .iter()
        .filter(|name| crate::tls::go_cipher_suite(name) == Some(true))
        .map(String::as_str)
        .collect();
    if !allow_insecure && !insecure.is_empty() {
        return Err(issue(
            v,
            format!(
                "insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: {}",
                insecure.join(", ")
            ),
        ));
    }
    report
        .unsupported
        .extend(crate::tls::unsupported_choices(&tls));
    Ok(tls)
}

/// `port` or `host:port`, as nats-server's `listen`, `http` and friends take them.
fn listen(v: &Value) -> Result<(Option<String>, i64), ConfigIssue> {
    match &v.kind {
        Kind::Integer(port) => Ok((None, *port)),
        Kind::String(s) => {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| issue(v, format!("could not parse address string {s:?}")))?;
            let port = port
                .parse()
                .map_err(|_| issue(v, format!("could not parse port {port:?}")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Ok((Some(host.to_owned()), port))
        }
        other => Err(issue(
            v,
            format!("expected port or host:port, got {}", other.type_name()),
        )),
    }
}

/// A client port: -1 picks a free one, 0 means the default.
fn client_port(v: &Value, port: i64) -> Result<Option<u16>, ConfigIssue> {
    match port {
        -1 => Ok(None),
        0 => Ok(Some(crate::options::DEFAULT_PORT)),
        _ => u16::try_from(port)
            .map(Some)
            .map_err(|_| issue(v, format!("invalid port {port}"))),
    }
}

/// A listener port where 0 is off and -1 picks a free port.
fn listener_port(v: &Value, port: i64) -> Result<i32, ConfigIssue> {
    if port < -1 || port > i64::from(u16::MAX) {
        return Err(issue(v, format!("invalid port {port}")));
    }
    Ok(port as i32)
}

fn limit_i32(v: &Value, key: &str) -> Result<usize, ConfigIssue> {
    let n = v.as_int()?;
    if n > i64::from(i32::MAX) {
        return Err(issue(v, format!("{key} value is too big")));
    }
    usize::try_from(n).map_err(|_| issue(v, format!("{key} can not be negative")))
}

/// A duration string, or (with a warning, as in nats-server) a number of seconds.
fn duration(v: &Value, key: &str, report: &mut ConfigReport) -> Result<Duration, ConfigIssue> {
    match v.kind {
        Kind::String(_) => Ok(v.as_duration()?),
        Kind::Integer(_) => {
            report.warnings.push(issue(
                v,
                format!("invalid use of field {key:?}: {key} should be converted to a duration"),
            ));
            Ok(v.as_seconds()?)
        }
        _ => Err(issue(v, format!("{key} expects a duration such as \"2s\""))),
    }
}

/// One string or an array of strings.
fn strings(v: &Value) -> Result<Vec<String>, ConfigIssue> {
    match &v.kind {
        Kind::String(s) => Ok(vec![s.clone()]),
        Kind::Array(items) => items
            .iter()
            .map(|item| Ok(item.as_str()?.to_owned()))
            .collect(),
        other => Err(issue(
            v,
            format!(
                "expected a string or an array of strings, got {}",
                other.type_name()
            ),
        )),
    }
}

fn scalar(v: &Value) -> Result<(), ConfigIssue> {
    match v.kind {
        Kind::Map(_) | Kind::Array(_) => Err(issue(
            v,
            format!("expected a single value, got {}", v.kind.type_name()),
        )),
        _ => Ok(()),
    }
}

/// A block for a capability natsd does not serve yet: its keys are checked, then it is
/// reported as unsupported.
fn block(
    v: &Value,
    name: &str,
    known: &[&str],
    report: &mut ConfigReport,
) -> Result<(), ConfigIssue> {
    let map = v.as_map()?;
    for entry in map.entries() {
        if !known.contains(&entry.key.to_ascii_lowercase().as_str()) && !entry.used_as_variable {
            return Err(unknown(entry));
        }
    }
    report.unsupported.push(name.to_owned());
    Ok(())
}

/// `authorization {}`: one user, a token, or a list of users (with passwords or NKeys),
/// permissions, and the authentication timeout.
fn authorization(v: &Value, opts: &mut Options) -> Result<(), ConfigIssue> {
    // Users of accounts (which may come first in the file) stay.
    let mut auth = Authenticator {
        no_auth_user: opts.authorization.no_auth_user.clone(),
        users: std::mem::take(&mut opts.authorization.users),
        ..Authenticator::default()
    };
    let (mut single_user, mut single_password) = (None, None);
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "user" | "username" => single_user = Some(value.as_str()?.to_owned()),
            "pass" | "password" => single_password = Some(value.as_str()?.to_owned()),
            "token" => auth.token = Some(value.as_str()?.to_owned()),
            "timeout" => {
                opts.auth_timeout = Some(match value.kind {
                    Kind::String(_) => value.as_duration()?,
                    _ => value.as_seconds()?,
                })
            }
            "users" => {
                for user in value.as_array()? {
                    auth.users.push(user_entry(user)?);
                }
            }
            "default_permission" | "default_permissions" | "permissions" => {
                auth.default_permissions = Some(permissions(value)?);
            }
            "auth_callout" | "auth_hook" => auth.callout = Some(auth_callout(value)?),
            "proxy_required" => auth.proxy_required = value.as_bool()?,
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    if let Some(name) = single_user {
        auth.users.push(User {
            name,
            password: single_password,
            proxy_required: auth.proxy_required,
            ..User::default()
        });
    }
    if auth.token.is_some() && auth.users.iter().any(|u| u.account.is_none()) {
        return Err(issue(
            v,
            "can not have a token and a user/users configured together".to_owned(),
        ));
    }
    opts.authorization = auth;
    Ok(())
}

/// `auth_callout {}`, with nats-server's checks and words.
fn auth_callout(v: &Value) -> Result<AuthCallout, ConfigIssue> {
    let names = |value: &Value, what: &str| -> Result<Vec<String>, ConfigIssue> {
        let Kind::Array(items) = &value.kind else {
            return Err(issue(
                value,
                format!("Expected {what} field to be an array"),
            ));
        };
        items
            .iter()
            .map(|item| Ok(item.as_str()?.to_owned()))
            .collect()
    };
    let mut callout = AuthCallout {
        issuer: String::new(),
        account: crate::account_config::GLOBAL_ACCOUNT.to_owned(),
        auth_users: Vec::new(),
        xkey: None,
        allowed_accounts: Vec::new(),
    };
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "issuer" => {
                let key = value.as_str()?;
                if !natsd_auth::nkey::is_account_key(key) {
                    return Err(issue(
                        value,
                        format!(
                            "Expected callout user to be a valid public account nkey, got {key:?}"
                        ),
                    ));
                }
                callout.issuer = key.to_owned();
            }
            "account" | "acc" => callout.account = value.as_str()?.to_owned(),
            "auth_users" | "users" => callout.auth_users = names(value, "auth_users")?,
            "xkey" | "key" => {
                let key = value.as_str()?;
                if !natsd_auth::nkey::is_curve_key(key) {
                    return Err(issue(
                        value,
                        format!("Expected callout xkey to be a valid public xkey, got {key:?}"),
                    ));
                }
                callout.xkey = Some(key.to_owned());
            }
            "allowed_accounts" => {
                callout.allowed_accounts = names(value, "allowed accounts")?;
            }
            _ if entry.used_as_variable => {}
            _ => {
                return Err(issue(
                    value,
                    format!(
                        "Unknown field {:?} parsing authorization callout",
                        entry.key
                    ),
                ))
            }
        }
    }
    if callout.issuer.is_empty() {
        return Err(issue(
            v,
            "Authorization callouts require an issuer to be specified".to_owned(),
        ));
    }
    if callout.auth_users.is_empty() {
        return Err(issue(
            v,
            "Authorization callouts require authorized users to be specified".to_owned(),
        ));
    }
    Ok(callout)
}

fn user_entry(v: &Value) -> Result<User, ConfigIssue> {
    let (mut name, mut password, mut nkey, mut perms) = (None, None, None, None);
    let (mut allowed_connection_types, mut proxy_required) = (Vec::new(), false);
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "user" | "username" => name = Some(value.as_str()?.to_owned()),
            "pass" | "password" => password = Some(value.as_str()?.to_owned()),
            "nkey" => {
                let key = value.as_str()?;
                if !natsd_auth::nkey::is_user_key(key) {
                    return Err(issue(
                        value,
                        format!("Not a valid public nkey for a user: {key:?}"),
                    ));
                }
                nkey = Some(key.to_owned());
            }
            "permission" | "permissions" | "authorization" => perms = Some(permissions(value)?),
            "allowed_connection_types" | "connection_types" | "clients" => {
                allowed_connection_types = connection_types(entry)?;
            }
            "proxy_required" => proxy_required = value.as_bool()?,
            "account" => {}
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    let name = name
        .or_else(|| nkey.clone())
        .ok_or_else(|| issue(v, "user entry requires a user or an nkey".to_owned()))?;
    Ok(User {
        name,
        password,
        nkey,
        permissions: perms,
        account: None,
        allowed_connection_types,
        proxy_required,
    })
}

/// A user's `allowed_connection_types`, upper-cased; names nats-server does not know are
/// refused all together, in its words.
fn connection_types(entry: &Entry) -> Result<Vec<String>, ConfigIssue> {
    let names = strings(&entry.value)?;
    let (known, unknown): (Vec<String>, Vec<String>) = names
        .iter()
        .map(|name| name.to_ascii_uppercase())
        .partition(|name| natsd_auth::jwt::CONNECTION_TYPES.contains(&name.as_str()));
    if unknown.is_empty() {
        return Ok(known);
    }
    let quoted: Vec<String> = unknown.iter().map(|name| format!("{name:?}")).collect();
    Err(ConfigIssue {
        pos: entry.key_pos.clone(),
        message: format!("invalid connection types [{}]", quoted.join(" ")),
    })
}

/// `{ publish: ..., subscribe: ..., allow_responses: ... }`.
fn permissions(v: &Value) -> Result<Permissions, ConfigIssue> {
    let mut perms = Permissions::default();
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "pub" | "publish" | "import" => perms.publish = subject_rule(value)?,
            "sub" | "subscribe" | "export" => perms.subscribe = subject_rule(value)?,
            "allow_responses" | "allow_response" => perms.allow_responses = responses(value)?,
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    Ok(perms)
}

/// A subject list (allow), or `{ allow: ..., deny: ... }`.
fn subject_rule(v: &Value) -> Result<SubjectRule, ConfigIssue> {
    let list = |value: &Value| -> Result<Vec<PermissionEntry>, ConfigIssue> {
        Ok(strings(value)?
            .iter()
            .map(|text| PermissionEntry::parse(text))
            .collect())
    };
    match &v.kind {
        Kind::Map(map) => {
            let mut rule = SubjectRule::default();
            for entry in map.entries() {
                match entry.key.to_ascii_lowercase().as_str() {
                    "allow" => rule.allow = Some(list(&entry.value)?),
                    "deny" => rule.deny = Some(list(&entry.value)?),
                    _ if entry.used_as_variable => {}
                    _ => return Err(unknown(entry)),
                }
            }
            Ok(rule)
        }
        _ => Ok(SubjectRule {
            allow: Some(list(v)?),
            deny: None,
        }),
    }
}

/// `true`, `false`, or `{ max: N, expires: "1m" }`.
fn responses(v: &Value) -> Result<Option<ResponsePermission>, ConfigIssue> {
    match &v.kind {
        Kind::Bool(on) => Ok(on.then(ResponsePermission::default)),
        Kind::Map(map) => {
            let mut permission = ResponsePermission::default();
            for entry in map.entries() {
                let value = &entry.value;
                match entry.key.to_ascii_lowercase().as_str() {
                    "max" | "max_msgs" | "max_messages" | "max_responses" => {
                        permission.max_msgs = value.as_integer()?;
                    }
                    "expires" | "expiration" | "ttl" => permission.expires = value.as_duration()?,
                    _ if entry.used_as_variable => {}
                    _ => return Err(unknown(entry)),
                }
            }
            Ok(Some(permission))
        }
        other => Err(issue(
            v,
            format!(
                "allow_responses expects a boolean or a map, got {}",
                other.type_name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
