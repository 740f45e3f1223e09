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
//! The directory is read when the config is: at start and on every reload (see
//! `jwt_store`). An update verifies the JWT against the operators, puts it in the trust the
//! authenticator uses (under the server's registry lock, so concurrent updates all land),
//! and checks again every client of the account: revoked users get `User Authentication
//! Revoked`, users of a removed signing key are closed, new limits and default permissions
//! apply.
//!
//! Requests are taken off the publisher's task: the handlers queue them for one resolver
//! task, which answers them in order on a blocking thread, since they read and write files.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use natsd_auth::jwt::{self, AccountNats, Claims};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::account::{Account, AccountConfig};
use crate::conn::{CloseReason, Flusher};
use crate::internal::InternalMsg;
use crate::jwt_store::{
    invalid_key, is_full, jwt_path, write_private, ResolverKind, ResolverOptions,
};
use crate::monitor::server_brief;
use crate::server::{Extension, Server, ServerError, ServerInner};

/// Requests waiting for the resolver task; beyond this many, new ones are dropped (and
/// logged) rather than let a flood grow the queue without bound.
const QUEUE_DEPTH: usize = 1024;

/// The account resolver as an extension: its `$SYS` requests once the server is up, the
/// expiry of each account JWT as its account loads.
#[derive(Debug, Default)]
pub(crate) struct Resolver;

impl Extension for Resolver {
    fn started(&self, server: &Server) -> Result<(), ServerError> {
        let inner = server.inner();
        let opts = inner.opts();
        if let Some(dir) = opts.resolver.as_ref().and_then(|r| r.dir.as_ref()) {
            let preload = opts
                .resolver
                .as_ref()
                .map(|r| r.preload.as_slice())
                .unwrap_or_default();
            if let Err(error) = crate::jwt_store::prepare(dir, preload) {
                inner.log.error(format_args!(
                    "Resolver directory {}: {error}",
                    dir.display()
                ));
            }
        }
        subscribe(inner)
    }

    fn account_loaded(&self, server: &Server, account: &Arc<Account>) -> Result<(), ServerError> {
        schedule_expiry(server.inner(), account);
        Ok(())
    }
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
fn subscribe(inner: &Arc<ServerInner>) -> Result<(), ServerError> {
    let opts = inner.opts();
    let Some(resolver) = opts.resolver.clone() else {
        return Ok(());
    };
    if opts.authorization.trust.is_none() || !inner.has_system_account() {
        return Ok(());
    }
    let (queue, mut waiting) = mpsc::channel::<(Request, InternalMsg)>(QUEUE_DEPTH);
    let weak: Weak<ServerInner> = Arc::downgrade(inner);
    tokio::spawn(async move {
        let seq = Arc::new(AtomicU64::new(0));
        while let Some((request, msg)) = waiting.recv().await {
            let (Some(inner), seq) = (weak.upgrade(), Arc::clone(&seq)) else {
                return;
            };
            let answered =
                tokio::task::spawn_blocking(move || answer(&inner, request, &msg, &seq)).await;
            if answered.is_err() {
                return;
            }
        }
    });
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
        let (queue, log) = (queue.clone(), Arc::clone(&inner.log));
        let handler = Arc::new(move |msg: InternalMsg, _: &mut Flusher| {
            if queue.try_send((request, msg)).is_err() {
                log.warn(format_args!("Resolver busy: request on {subject} dropped"));
            }
        });
        inner
            .system_client()
            .subscribe(subject, None, handler)
            .map_err(|_| ServerError::InvalidSubject)?;
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
            update(inner, resolver, named, msg.body())
        }
        Request::Lookup => {
            let key = subject_token(msg, 3).unwrap_or_default();
            let token = inner
                .account_jwt(key)
                .map(|entry| entry.token.as_bytes().to_vec());
            Outcome::Raw(token.unwrap_or_default())
        }
        Request::List => {
            let authenticator = inner.authenticator();
            let mut keys: Vec<String> = authenticator
                .trust
                .iter()
                .flat_map(natsd_auth::jwt::Trust::accounts)
                .map(|entry| entry.claims.sub.clone())
                .collect();
            keys.sort();
            Outcome::List(keys)
        }
        Request::Delete => delete(inner, resolver, msg.body()),
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
            inner.system_client().send(reply, b"", bytes);
            return;
        }
    };
    inner.system_client().send(reply, b"", body.to_string());
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
    let now = jwt::now_unix();
    let applied = inner.change_trust(|trust, accounts| {
        let entry = trust.verify_account(token, now)?;
        let key = entry.claims.sub.clone();
        let claims = Arc::clone(&entry.claims);
        trust.insert_account(entry);
        let account = accounts.get(&key).cloned();
        if let Some(account) = &account {
            account.configure(&AccountConfig::from_jwt(&claims, trust, now));
        }
        Ok::<_, jwt::JwtError>((key, account))
    });
    let Some((key, account)) = applied.transpose()? else {
        return Ok(());
    };
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
    let authenticator = inner.authenticator();
    let Some(trust) = authenticator.trust.as_ref() else {
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
    let mut removed_keys = Vec::new();
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
        removed_keys.push(key);
    }
    inner.change_trust(|trust, _| {
        for key in removed_keys {
            trust.remove_account(key);
        }
    });
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
    clients.sort_by_key(|client| client.conn.cid);
    for client in clients.into_iter().skip(max) {
        client
            .conn
            .send_error(natsd_proto::errors::MAX_ACCOUNT_CONNECTIONS_EXCEEDED);
        client
            .conn
            .close(CloseReason::MaxAccountConnectionsExceeded);
    }
}

/// Closes the account's clients when its JWT expires, unless a newer JWT has replaced it
/// by then.
fn schedule_expiry(inner: &Arc<ServerInner>, account: &Arc<Account>) {
    let Some(entry) = inner.account_jwt(&account.name) else {
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
        let current = inner
            .account_jwt(&account.name)
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
        client
            .conn
            .send_error(natsd_proto::errors::ACCOUNT_AUTHENTICATION_EXPIRED);
        client.conn.close(CloseReason::AuthenticationExpired);
    }
}
