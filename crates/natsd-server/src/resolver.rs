//! Account JWT resolvers: where account JWTs come from in operator mode, and how they
//! change while the server runs.
//!
//! - `MEMORY`: the accounts of `resolver_preload`. An update over `$SYS` replaces an
//!   account in use; others are skipped, as nats-server does.
//! - `full`: every account JWT lives in `dir` as `<account key>.jwt`. Updates are stored
//!   there and take effect at once; `$SYS.REQ.CLAIMS.LIST`, `...LOOKUP` and (with
//!   `allow_delete`) `$SYS.REQ.CLAIMS.DELETE` are served too.
//! - `cache`: like `full`, but an update of an account not in use is skipped.
//!
//! The directory is read when the config is: at start and on every reload. An update
//! verifies the JWT against the operators, puts it in the trust the authenticator uses,
//! and checks again every client of the account: revoked users get `User Authentication
//! Revoked`, users of a removed signing key are closed, new limits and default
//! permissions apply.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use natsd_auth::jwt::{self, AccountNats, Claims, Trust};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::account::{Account, AccountConfig};
use crate::monitor::server_brief;
use crate::server::{ServerError, ServerInner};
use crate::subscription::InternalMsg;

/// Which resolver, from `resolver:` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolverKind {
    #[default]
    Memory,
    Full,
    Cache,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolverOptions {
    pub kind: ResolverKind,
    /// Where `full` and `cache` keep account JWTs.
    pub dir: Option<PathBuf>,
    pub allow_delete: bool,
    /// Delete files rather than renaming them `<key>.jwt.deleted`.
    pub hard_delete: bool,
    /// Accounts the directory may hold; 0 is no limit.
    pub limit: usize,
    /// Read for the cache resolver, not enforced yet.
    pub ttl: Duration,
}

/// `<dir>/<key>.jwt`, for a valid account key only (it becomes a file name).
fn jwt_path(dir: &Path, key: &str) -> Option<PathBuf> {
    natsd_auth::nkey::is_account_key(key).then(|| dir.join(format!("{key}.jwt")))
}

/// The account JWTs in `dir`: (file, token).
pub(crate) fn read_dir(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jwt") {
            found.push((path.clone(), std::fs::read_to_string(&path)?));
        }
    }
    found.sort();
    Ok(found)
}

/// `(jti, iat)`: which of two JWTs of one account is newer.
fn stamp(token: &str) -> Option<(String, i64)> {
    jwt::decode::<Value>(token)
        .ok()
        .map(|claims| (claims.jti, claims.iat))
}

/// Stores `token` unless the file holds the same JWT or a newer one (preloads, as
/// nats-server does).
pub(crate) fn save_if_newer(dir: &Path, key: &str, token: &str) -> std::io::Result<()> {
    let path = jwt_path(dir, key).ok_or_else(|| invalid_key(key))?;
    if let (Ok(existing), Some(new)) = (std::fs::read_to_string(&path), stamp(token)) {
        if let Some(old) = stamp(&existing) {
            if (!old.0.is_empty() && old.0 == new.0) || old.1 > new.1 {
                return Ok(());
            }
        }
    }
    write_private(&path, token)
}

fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(token.as_bytes())
}

/// Whether a new account (`path` not there yet) would go beyond `limit` accounts.
fn is_full(dir: &Path, path: &Path, limit: usize) -> bool {
    limit > 0 && !path.exists() && read_dir(dir).is_ok_and(|held| held.len() >= limit)
}

fn invalid_key(key: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("invalid public key {key:?}"),
    )
}

/// Creates the directory if needed, stores the preloads in it, and puts every account JWT
/// it holds in `trust`. Returns what was skipped and why.
pub(crate) fn load_dir(
    dir: &Path,
    preload: &[String],
    trust: &mut Trust,
    now: i64,
) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    for token in preload {
        if let Ok(claims) = jwt::decode::<Value>(token) {
            save_if_newer(dir, &claims.sub, token)?;
        }
    }
    let mut skipped = Vec::new();
    for (path, token) in read_dir(dir)? {
        if let Err(error) = trust.add_account(&token, now) {
            skipped.push(format!("account JWT {} skipped: {error}", path.display()));
        }
    }
    Ok(skipped)
}

/// The subjects each resolver answers on, in the system account.
const UPDATE: &str = "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE";
const UPDATE_OLD: &str = "$SYS.ACCOUNT.*.CLAIMS.UPDATE";
const UPDATE_ANY: &str = "$SYS.REQ.CLAIMS.UPDATE";
const LOOKUP: &str = "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP";
const LIST: &str = "$SYS.REQ.CLAIMS.LIST";
const DELETE: &str = "$SYS.REQ.CLAIMS.DELETE";

#[derive(Debug, Clone, Copy)]
enum Request {
    /// The account key is the subject's token at this index.
    Update {
        account_token: Option<usize>,
    },
    Lookup,
    List,
    Delete,
}

/// Subscribes the resolver's requests, in operator mode with a system account.
pub(crate) fn subscribe(inner: &Arc<ServerInner>) -> Result<(), ServerError> {
    let opts = inner.opts();
    let Some(resolver) = opts.resolver.clone() else {
        return Ok(());
    };
    if opts.authorization.trust.is_none() || !inner.has_system_account() {
        return Ok(());
    }
    let system = inner.system_account();
    let seq = Arc::new(AtomicU64::new(0));
    let mut requests = vec![
        (
            UPDATE,
            Request::Update {
                account_token: Some(3),
            },
        ),
        (
            UPDATE_OLD,
            Request::Update {
                account_token: Some(2),
            },
        ),
    ];
    if resolver.kind != ResolverKind::Memory {
        requests.push((
            UPDATE_ANY,
            Request::Update {
                account_token: None,
            },
        ));
        requests.push((LIST, Request::List));
        requests.push((DELETE, Request::Delete));
    }
    if resolver.kind == ResolverKind::Full {
        requests.push((LOOKUP, Request::Lookup));
    }
    for (subject, request) in requests {
        let weak: Weak<ServerInner> = Arc::downgrade(inner);
        let seq = Arc::clone(&seq);
        let handler = Arc::new(move |msg: InternalMsg| {
            if let Some(inner) = weak.upgrade() {
                answer(&inner, request, &msg, &seq);
            }
        });
        inner.subscribe_in(&system, subject, None, handler)?;
    }
    Ok(())
}

/// A reply of the resolver: `data` on success, `error` (always code 500) on failure.
enum Outcome {
    Ok {
        account: String,
        message: String,
    },
    Failed {
        account: String,
        description: String,
    },
    List(Vec<String>),
    Raw(Vec<u8>),
}

fn answer(inner: &Arc<ServerInner>, request: Request, msg: &InternalMsg, seq: &AtomicU64) {
    let opts = inner.opts();
    let Some(resolver) = opts.resolver.as_ref() else {
        return;
    };
    let outcome = match request {
        Request::Update { account_token } => {
            let named = account_token.and_then(|index| subject_token(msg, index));
            update(inner, resolver, named, &msg.body)
        }
        Request::Lookup => {
            let key = subject_token(msg, 3).unwrap_or_default();
            let token = opts
                .authorization
                .trust
                .as_ref()
                .and_then(|trust| trust.account(key))
                .map(|entry| entry.token.as_bytes().to_vec());
            Outcome::Raw(token.unwrap_or_default())
        }
        Request::List => {
            let mut keys: Vec<String> = opts
                .authorization
                .trust
                .iter()
                .flat_map(Trust::accounts)
                .map(|entry| entry.claims.sub.clone())
                .collect();
            keys.sort();
            Outcome::List(keys)
        }
        Request::Delete => delete(inner, resolver, &msg.body),
    };
    let Some(reply) = msg.reply.as_ref() else {
        if let Outcome::Failed { description, .. } = &outcome {
            inner.log.error(format_args!("Resolver: {description}"));
        }
        return;
    };
    let brief = server_brief(inner, seq);
    let body = match outcome {
        Outcome::Ok { account, message } => {
            let mut data = json!({"code": 200, "message": message});
            if !account.is_empty() {
                data["account"] = json!(account);
            }
            json!({"server": brief, "data": data})
        }
        Outcome::Failed {
            account,
            description,
        } => {
            let mut error = json!({"code": 500, "description": description});
            if !account.is_empty() {
                error["account"] = json!(account);
            }
            json!({"server": brief, "error": error})
        }
        Outcome::List(keys) => json!({"server": brief, "data": keys}),
        Outcome::Raw(bytes) => {
            inner.publish_in(&inner.system_account(), reply, b"", b"", &bytes);
            return;
        }
    };
    inner.publish_in(
        &inner.system_account(),
        reply,
        b"",
        b"",
        body.to_string().as_bytes(),
    );
}

/// The subject's token at `index` (an account key in the request subjects).
fn subject_token(msg: &InternalMsg, index: usize) -> Option<&str> {
    std::str::from_utf8(&msg.subject)
        .ok()?
        .split('.')
        .nth(index)
}

fn update(
    inner: &Arc<ServerInner>,
    resolver: &ResolverOptions,
    named: Option<&str>,
    body: &[u8],
) -> Outcome {
    let (error_text, skipped_text, done_text) = match resolver.kind {
        ResolverKind::Cache => (
            "jwt update cache resulted in error",
            "jwt update cache skipped",
            "jwt updated cache",
        ),
        _ => (
            "jwt update resulted in error",
            "jwt update skipped",
            "jwt updated",
        ),
    };
    let failed = |account: &str, error: String| Outcome::Failed {
        account: account.to_owned(),
        description: format!("{error_text} - {error}"),
    };
    let memory = resolver.kind == ResolverKind::Memory;
    // Which account a refusal names differs between resolvers, as in nats-server.
    let undecoded = match resolver.kind {
        ResolverKind::Full => "n/a",
        _ => named.unwrap_or("n/a"),
    };
    if memory && body.is_empty() {
        return Outcome::Failed {
            account: undecoded.to_owned(),
            description: "jwt update error - request body is empty".to_owned(),
        };
    }
    let token = String::from_utf8_lossy(body).trim().to_owned();
    let claims = match jwt::decode::<AccountNats>(&token) {
        Ok(claims) if claims.nats.kind == "account" => claims,
        Ok(_) => return failed(undecoded, "not account claim".to_owned()),
        Err(error) => return failed(undecoded, error.to_string()),
    };
    let key = claims.sub.clone();
    if let Some(named) = named.filter(|named| *named != key) {
        return failed(named, "subject does not match jwt content".to_owned());
    }
    let loaded = inner.loaded_account(&key).is_some();
    match resolver.kind {
        ResolverKind::Memory | ResolverKind::Cache if !loaded => {
            return Outcome::Ok {
                account: key,
                message: skipped_text.to_owned(),
            };
        }
        _ => {}
    }
    if let Some(dir) = &resolver.dir {
        let stored = match jwt_path(dir, &key) {
            Some(path)
                if resolver.kind == ResolverKind::Full && is_full(dir, &path, resolver.limit) =>
            {
                Err(std::io::Error::other("jwt store is full"))
            }
            Some(path) => write_private(&path, &token),
            None => Err(invalid_key(&key)),
        };
        if let Err(error) = stored {
            return failed(&key, error.to_string());
        }
    }
    if let Err(error) = apply(inner, &token) {
        // The directory resolvers have stored the JWT; the memory one holds nothing else.
        if memory {
            return failed(&key, "account validation failed".to_owned());
        }
        inner.log.error(format_args!(
            "Resolver - Update for account {key:?} resulted in error {error}"
        ));
    }
    Outcome::Ok {
        account: key,
        message: done_text.to_owned(),
    }
}

/// Puts an account JWT in force: the trust the authenticator checks users against, the
/// account's limits, and every client of the account checked again.
fn apply(inner: &Arc<ServerInner>, token: &str) -> Result<(), jwt::JwtError> {
    let mut opts = (*inner.opts()).clone();
    let Some(trust) = opts.authorization.trust.as_mut() else {
        return Ok(());
    };
    let now = jwt::now_unix();
    let entry = trust.verify_account(token, now)?;
    let key = entry.claims.sub.clone();
    let claims = Arc::clone(&entry.claims);
    trust.insert_account(entry);
    let config = AccountConfig::from_jwt(&claims, trust, now);
    let account = inner.loaded_account(&key);
    if let Some(account) = &account {
        account.set_limits(config.limits);
    }
    inner.replace_opts(Arc::new(opts));
    if let Some(account) = &account {
        crate::imports::rewire(inner, &key);
        crate::reload::recheck_clients(inner, Some(account));
        enforce_connection_limit(inner, account);
        schedule_expiry(inner, account);
    }
    Ok(())
}

/// The body of a delete request: a JWT the operator signed for itself.
#[derive(Deserialize)]
struct DeleteRequest {
    #[serde(default)]
    accounts: Vec<String>,
}

fn delete(inner: &Arc<ServerInner>, resolver: &ResolverOptions, body: &[u8]) -> Outcome {
    let token = String::from_utf8_lossy(body).trim().to_owned();
    let claims: Result<Claims<DeleteRequest>, String> =
        jwt::decode(&token).map_err(|e| e.to_string());
    let requester = claims.as_ref().map(|c| c.sub.clone()).unwrap_or_default();
    let failed = |error: &str| Outcome::Failed {
        account: String::new(),
        description: format!("delete accounts request by {requester} failed - {error}"),
    };
    let claims = match claims {
        Ok(claims) => claims,
        Err(error) => return failed(&error),
    };
    if resolver.kind == ResolverKind::Full && !resolver.allow_delete {
        return failed("delete must be enabled in server config");
    }
    if claims.iss != claims.sub {
        return failed("not self signed");
    }
    let opts = inner.opts();
    let Some(trust) = opts.authorization.trust.as_ref() else {
        return failed("not trusted");
    };
    if !trust.is_operator_key(&claims.iss) {
        return failed("not trusted");
    }
    let keys = claims.nats.accounts;
    if keys.is_empty() || keys.iter().any(|k| !natsd_auth::nkey::is_account_key(k)) {
        return failed("malformed request");
    }
    if keys
        .iter()
        .any(|k| opts.system_account.as_deref() == Some(k))
    {
        return failed("not allowed to delete system account");
    }
    let mut problems = Vec::new();
    let mut new_opts = (*opts).clone();
    for key in &keys {
        if let (Some(dir), Some(path)) = (
            &resolver.dir,
            resolver.dir.as_ref().and_then(|d| jwt_path(d, key)),
        ) {
            let removed = if resolver.hard_delete || resolver.kind == ResolverKind::Cache {
                std::fs::remove_file(&path)
            } else {
                std::fs::rename(&path, dir.join(format!("{key}.jwt.deleted")))
            };
            if let Err(error) = removed.or_else(|e| {
                (e.kind() == std::io::ErrorKind::NotFound)
                    .then_some(())
                    .ok_or(e)
            }) {
                problems.push(format!("{key}: {error}"));
                continue;
            }
        }
        if let Some(trust) = new_opts.authorization.trust.as_mut() {
            trust.remove_account(key);
        }
    }
    inner.replace_opts(Arc::new(new_opts));
    for key in &keys {
        if let Some(account) = inner.loaded_account(key) {
            expire_account(inner, &account);
        }
    }
    let deleted = keys.len() - problems.len();
    if problems.is_empty() {
        Outcome::Ok {
            account: String::new(),
            message: format!("deleted {deleted} accounts"),
        }
    } else {
        Outcome::Failed {
            account: String::new(),
            description: format!(
                "deleted {deleted} accounts, failed for {} - {}",
                problems.len(),
                problems.join("\n")
            ),
        }
    }
}

/// When an update lowers `conn` below what is connected, the newest clients beyond it are
/// told and closed; the oldest stay, as in nats-server.
fn enforce_connection_limit(inner: &ServerInner, account: &Account) {
    let Some(max) = account.limits().max_connections else {
        return;
    };
    let mut clients = inner.clients_of(account);
    clients.sort_by_key(|client| client.cid);
    for client in clients.into_iter().skip(max) {
        crate::client::send_error(
            &client,
            natsd_proto::errors::MAX_ACCOUNT_CONNECTIONS_EXCEEDED,
        );
        client.close(crate::outbound::CloseReason::MaxAccountConnectionsExceeded);
    }
}

/// Closes the account's clients when its JWT expires, unless a newer JWT has replaced it
/// by then.
pub(crate) fn schedule_expiry(inner: &Arc<ServerInner>, account: &Arc<Account>) {
    let opts = inner.opts();
    let Some(entry) = opts
        .authorization
        .trust
        .as_ref()
        .and_then(|trust| trust.account(&account.name))
    else {
        return;
    };
    let Some(exp) = entry.claims.exp.filter(|exp| *exp > 0) else {
        return;
    };
    let left = u64::try_from(exp - jwt::now_unix()).unwrap_or(0);
    let (token, weak_inner, weak_account) = (
        Arc::clone(&entry.token),
        Arc::downgrade(inner),
        Arc::downgrade(account),
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(left)).await;
        let (Some(inner), Some(account)) = (weak_inner.upgrade(), weak_account.upgrade()) else {
            return;
        };
        let opts = inner.opts();
        let current = opts
            .authorization
            .trust
            .as_ref()
            .and_then(|trust| trust.account(&account.name))
            .map(|entry| Arc::clone(&entry.token));
        if current.is_some_and(|current| current == token) {
            expire_account(&inner, &account);
        }
    });
}

/// A deleted account admits nobody: its clients are told and closed.
fn expire_account(inner: &ServerInner, account: &Arc<Account>) {
    account.set_limits(crate::account::AccountLimits {
        max_connections: Some(0),
        max_subscriptions: Some(0),
        max_payload: Some(0),
    });
    for client in inner.clients_of(account) {
        crate::client::send_error(&client, natsd_proto::errors::ACCOUNT_AUTHENTICATION_EXPIRED);
        client.close(crate::outbound::CloseReason::AuthenticationExpired);
    }
}
