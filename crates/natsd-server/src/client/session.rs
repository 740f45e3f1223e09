//! A client session: the reader task runs the parser and acts on each op (CONNECT, PUB,
//! SUB, UNSUB, PING...), sends server PINGs, detects stale clients, applies limits and
//! authenticates. What it delivers goes out through each subscriber's own writer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use natsd_auth::{AuthError, Credentials, Identity};
use natsd_proto::encode::decimal;
use natsd_proto::headers::HeaderBlock;
use natsd_proto::{encode, errors, ClientOp, Parser, ParserLimits, Publish, SharedSlice};
use natsd_subject::{is_valid_literal_subject, SublistError, SublistResult};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::callout;
use super::trace::Asked;
use crate::account::{Account, UNSUBSCRIBE_BATCH};
use crate::client_conn::{go_quote, subscription_violation, ClientConn};
use crate::conn::{CloseReason, Conn, ConnKind, Flusher};
use crate::delivery::deliver;
use crate::info::{ClientOptions, ConnectFields};
use crate::internal::InternalClient;
use crate::server::ServerInner;
use crate::subscription::{
    Message, SubRef, Subscription, Target, Trace, TraceEvent, TRACE_DEST, TRACE_DISABLED,
};

/// Smallest read buffer; idle connections keep only this much.
const READ_BUFFER_MIN: usize = 512;
/// Largest read size under load.
const READ_BUFFER_MAX: usize = 64 * 1024;
/// Per-connection cache of match results, bounded like nats-server's.
const RESULT_CACHE_MAX: usize = 512;
/// When the first server PING goes out to a client, at the latest.
const FIRST_PING_MAX: Duration = Duration::from_secs(2);
/// Prefix of replies routed through gateways.
const GATEWAY_REPLY_PREFIX: &[u8] = b"_GR_.";
/// Prefix of Raft subjects, reserved to the system account.
const RAFT_PREFIX: &[u8] = b"$NRG.";
/// Prefix of service-import reply subjects.
const SERVICE_REPLY_PREFIX: &[u8] = b"_R_.";
/// Prefix of JetStream acknowledgement subjects.
const JS_ACK_PREFIX: &[u8] = b"$JS.ACK.";

type MatchResult = Arc<SublistResult<SubRef>>;

/// What the reader task owns for its connection.
pub(super) struct Session {
    server: Arc<ServerInner>,
    client: Arc<ClientConn>,
    /// The client's kind-neutral handle (the same as `client.conn`, at hand).
    conn: Arc<Conn>,
    client_ip: String,
    /// Protocol tracing (`-V`), read once at connect as nats-server does.
    trace: bool,
    parser: Parser,
    options: ClientOptions,
    first_pong_sent: bool,
    pings_out: u32,
    last_in: Instant,
    results: foldhash::HashMap<Bytes, MatchResult>,
    results_generation: u64,
    flusher: Flusher,
    /// The server's config generation the parser limits were taken from.
    config_generation: u64,
    in_msgs: u64,
    in_bytes: u64,
    /// When the unanswered server PING went out, to measure the round trip.
    ping_sent: Option<Instant>,
    /// A CONNECT waiting for its credentials to be checked apart (boxed: it is rare and
    /// large, and every idle connection would carry its room).
    pending_connect: Option<Box<(ConnectFields, Credentials)>>,
    /// The account the client's user belongs to; its subscriptions and publishes live there.
    account: Arc<Account>,
    /// Whether the connection is counted in its account.
    bound: bool,
    /// When the user's JWT expires.
    expires_at: Option<tokio::time::Instant>,
    /// Limits the user's JWT sets, beside the account's and the server's (boxed: most
    /// connections have none, and every idle one would carry the room).
    user_limits: Option<Box<UserLimits>>,
}

/// A user JWT's own limits; `None` is no limit.
#[derive(Debug, Clone, Copy)]
struct UserLimits {
    max_subscriptions: Option<usize>,
    max_payload: Option<usize>,
}

/// The lowest of the limits that are set.
fn lowest(limits: &[Option<usize>]) -> Option<usize> {
    limits.iter().flatten().copied().min()
}

impl Session {
    pub(super) fn new(server: Arc<ServerInner>, client: Arc<ClientConn>) -> Self {
        let limits = ParserLimits {
            max_control_line: server.opts().max_control_line,
            max_payload: Some(server.opts().max_payload),
        };
        let conn = Arc::clone(&client.conn);
        Session {
            config_generation: server.config_generation(),
            in_msgs: 0,
            in_bytes: 0,
            ping_sent: None,
            pending_connect: None,
            account: Arc::clone(&server.global),
            bound: false,
            expires_at: None,
            user_limits: None,
            trace: client.trace_log.is_some(),
            server,
            client,
            client_ip: conn.peer.ip().to_string(),
            conn,
            parser: Parser::new(limits),
            options: ClientOptions::default(),
            first_pong_sent: false,
            pings_out: 0,
            last_in: Instant::now(),
            results: foldhash::HashMap::default(),
            results_generation: 0,
            flusher: Flusher::default(),
        }
    }

    pub(super) async fn run<R: AsyncRead + Unpin>(&mut self, mut reader: R) {
        let mut buf = BytesMut::with_capacity(READ_BUFFER_MIN);
        let mut read_size = READ_BUFFER_MIN;
        // Before CONNECT the timer is the authentication deadline, when there is one.
        let opts = self.server.opts();
        let mut next_ping = self.server.authenticator().is_required().then(|| {
            let timeout = opts
                .auth_timeout
                .unwrap_or(crate::options::DEFAULT_AUTH_TIMEOUT);
            tokio::time::Instant::now() + timeout
        });
        drop(opts);
        loop {
            let wanted = self.parser.bytes_wanted(buf.len()).max(read_size);
            if buf.capacity() - buf.len() < read_size {
                buf.reserve(wanted);
            }
            // One timer serves the PINGs (or, before CONNECT, the authentication deadline)
            // and the JWT expiry, so an idle connection carries a single sleep.
            let timer_at = match (next_ping, self.expires_at) {
                (Some(ping), Some(expiry)) => Some(ping.min(expiry)),
                (ping, expiry) => ping.or(expiry),
            };
            let timer = async move {
                match timer_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.conn.reader_woken() => {
                    if self.conn.is_closed() {
                        return;
                    }
                }
                read = reader.read_buf(&mut buf) => {
                    match read {
                        Ok(0) => {
                            self.conn.close(CloseReason::ClientClosed);
                            return;
                        }
                        Ok(n) => {
                            self.last_in = Instant::now();
                            read_size = next_read_size(read_size, n);
                            let connected_before = self.conn.is_connected();
                            self.refresh_limits();
                            self.process(&mut buf);
                            while let Some(pending) = self.pending_connect.take() {
                                let (fields, credentials) = *pending;
                                // Boxed: the check's state would otherwise sit in every
                                // connection's task.
                                Box::pin(self.connect_checked_apart(fields, credentials)).await;
                                if self.conn.is_closed() {
                                    break;
                                }
                                self.process(&mut buf);
                            }
                            self.publish_stats();
                            if self.flusher.flush() {
                                // Let the woken writers run before reading more, so
                                // deliveries flow out while input keeps coming instead
                                // of piling up behind a busy reader.
                                tokio::task::yield_now().await;
                            }
                            self.flusher.wait_for_stalled().await;
                            if self.conn.is_closed() {
                                return;
                            }
                            if self.conn.is_connected() && !connected_before {
                                next_ping = Some(tokio::time::Instant::now() + self.first_ping_delay());
                            }
                            if buf.is_empty() && buf.capacity() > READ_BUFFER_MAX {
                                buf = BytesMut::with_capacity(READ_BUFFER_MIN);
                            }
                        }
                        Err(_) => {
                            self.conn.close(CloseReason::ReadError);
                            return;
                        }
                    }
                }
                _ = timer => {
                    if self.expires_at.is_some_and(|at| at <= tokio::time::Instant::now()) {
                        self.send_err(errors::USER_AUTHENTICATION_EXPIRED);
                        self.conn.close(CloseReason::AuthenticationExpired);
                        return;
                    }
                    if next_ping.is_some_and(|at| at > tokio::time::Instant::now()) {
                        continue;
                    }
                    if !self.conn.is_connected() {
                        self.send_err(errors::AUTHENTICATION_TIMEOUT);
                        self.conn.close(CloseReason::AuthenticationTimeout);
                        return;
                    }
                    next_ping = Some(tokio::time::Instant::now() + self.server.opts().ping_interval);
                    self.ping_timer_fired();
                    if self.conn.is_closed() {
                        return;
                    }
                }
            }
        }
    }

    /// Takes new limits after a config reload.
    fn refresh_limits(&mut self) {
        let generation = self.server.config_generation();
        if generation != self.config_generation {
            self.config_generation = generation;
            self.apply_limits();
            self.close_if_over_subscription_limit();
        }
    }

    /// The parser's limits: the server's, lowered by the account's and the user's
    /// `max_payload`.
    fn apply_limits(&mut self) {
        let opts = self.server.opts();
        let max_payload = lowest(&[
            Some(opts.max_payload),
            self.account.limits().max_payload,
            self.user_limits.as_ref().and_then(|u| u.max_payload),
        ])
        .unwrap_or(opts.max_payload);
        self.parser.set_limits(ParserLimits {
            max_control_line: opts.max_control_line,
            max_payload: Some(max_payload),
        });
    }

    /// Counts the connection out of its account.
    pub(super) fn unbind(&mut self) {
        if self.bound {
            self.account.unbind_connection();
            self.bound = false;
        }
    }

    /// Subscriptions allowed per connection: the lowest of the server's (where 0 is no
    /// limit), the account's and the user's; `None` for no limit.
    fn max_subscriptions(&self) -> Option<usize> {
        let server = self.server.opts().max_subscriptions;
        lowest(&[
            (server > 0).then_some(server),
            self.account.limits().max_subscriptions,
            self.user_limits.as_ref().and_then(|u| u.max_subscriptions),
        ])
    }

    /// A client already at its subscription limit when limits change (a JWT allowing none)
    /// is told and closed, as nats-server does.
    fn close_if_over_subscription_limit(&self) -> bool {
        let over = self
            .max_subscriptions()
            .is_some_and(|max| self.client.subs.lock().len() >= max);
        if over {
            self.send_err(errors::MAX_SUBSCRIPTIONS_EXCEEDED);
            self.conn.close(CloseReason::MaxSubscriptionsExceeded);
        }
        over
    }

    /// Makes this batch's inbound figures visible to monitoring.
    fn publish_stats(&self) {
        let stats = &self.conn.stats;
        stats.in_msgs.store(self.in_msgs, Ordering::Relaxed);
        stats.in_bytes.store(self.in_bytes, Ordering::Relaxed);
        stats.last_activity.store(
            crate::conn::unix_nanos(std::time::SystemTime::now()),
            Ordering::Relaxed,
        );
    }

    fn first_ping_delay(&self) -> Duration {
        let interval = self.server.opts().ping_interval;
        let base = if self.server.opts().short_first_ping {
            interval.min(FIRST_PING_MAX)
        } else {
            interval
        };
        let jitter_max = base.as_millis() as u64 / 5;
        let jitter = if jitter_max > 0 {
            rand::rng().random_range(0..jitter_max)
        } else {
            0
        };
        base + Duration::from_millis(jitter)
    }

    /// PINGs an idle client; a client that leaves `ping_max` PINGs unanswered is stale.
    fn ping_timer_fired(&mut self) {
        if self.last_in.elapsed() < self.server.opts().ping_interval {
            return;
        }
        if self.pings_out + 1 > self.server.opts().ping_max {
            self.send_err(errors::STALE_CONNECTION);
            self.conn.close(CloseReason::StaleConnection);
            return;
        }
        self.pings_out += 1;
        self.ping_sent = Some(Instant::now());
        self.send_proto(encode::PING);
    }

    fn process(&mut self, buf: &mut BytesMut) {
        loop {
            if !self.conn.is_connected() && self.parser.at_op_start() && !self.may_start_op(buf) {
                return;
            }
            match self.parser.next_op(buf) {
                Ok(Some(op)) => {
                    self.handle(op);
                    if self.conn.is_closed() || self.pending_connect.is_some() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(error) => {
                    if let Some(text) = error.client_error() {
                        self.send_err(text);
                    }
                    self.server
                        .log
                        .error(format_args!("cid:{} - {error}", self.conn.cid));
                    let reason = match error {
                        natsd_proto::ParseError::MaxPayload { .. } => {
                            CloseReason::MaxPayloadExceeded
                        }
                        natsd_proto::ParseError::MaxControlLine => {
                            CloseReason::MaxControlLineExceeded
                        }
                        natsd_proto::ParseError::UnknownOperation => CloseReason::ParseError,
                        natsd_proto::ParseError::Violation(_) => CloseReason::ProtocolViolation,
                    };
                    self.conn.close(reason);
                    return;
                }
            }
        }
    }

    /// Before CONNECT, with authentication required, an operation other than CONNECT is an
    /// authorization violation, unless `no_auth_user` admits the client as it is.
    fn may_start_op(&mut self, buf: &BytesMut) -> bool {
        let Some(&first) = buf.first() else {
            return true;
        };
        let authenticator = self.server.authenticator();
        if matches!(first, b'C' | b'c') || !authenticator.is_required() {
            return true;
        }
        if authenticator.no_auth_user.is_some() {
            return self.authenticate(Credentials::default(), None);
        }
        self.send_err(errors::AUTHORIZATION_VIOLATION);
        self.conn.close(CloseReason::AuthenticationViolation);
        false
    }

    /// Checks credentials; on success the client is connected with its identity's
    /// permissions, on failure it is told and closed.
    fn authenticate(&mut self, credentials: Credentials, fields: Option<&ConnectFields>) -> bool {
        let (credentials, nonce) = self.with_connection_facts(credentials);
        let result = self
            .server
            .authenticator()
            .authenticate(&credentials, nonce.as_deref());
        self.admit(result, credentials, fields)
    }

    /// Completes credentials with what the connection itself knows (its TLS certificate),
    /// and returns them with the nonce its INFO carried.
    fn with_connection_facts(&self, mut credentials: Credentials) -> (Credentials, Option<String>) {
        let facts = self.client.auth.lock();
        if let Some(known) = &facts.credentials {
            credentials.certificate = known.certificate.clone();
            credentials.certificate_key = known.certificate_key.clone();
        }
        credentials.client_ip = Some(self.conn.peer.ip());
        (credentials, facts.nonce.clone())
    }

    /// Acts on an authentication decision.
    fn admit(
        &mut self,
        result: Result<Identity, AuthError>,
        credentials: Credentials,
        fields: Option<&ConnectFields>,
    ) -> bool {
        let identity = match result {
            Ok(identity) => identity,
            Err(error) => {
                self.server.log.error(format_args!(
                    "{} - cid:{} - authentication error: {error}",
                    self.conn.peer, self.conn.cid
                ));
                self.send_err(errors::AUTHORIZATION_VIOLATION);
                let reason = match error {
                    AuthError::ProxyRequired
                    | AuthError::Jwt(natsd_auth::jwt::JwtError::ProxyRequired) => {
                        CloseReason::ProxyRequired
                    }
                    _ => CloseReason::AuthenticationViolation,
                };
                self.conn.close(reason);
                let presented = credentials.nkey.as_deref().or(credentials.user.as_deref());
                crate::monitor::client_event(
                    &self.server,
                    &self.client,
                    crate::monitor::ClientEvent::AuthenticationFailed(presented),
                );
                return false;
            }
        };
        self.client.set_permissions(identity.permissions);
        self.expires_at = identity.expires.map(|at| {
            let at = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0));
            let left = at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            tokio::time::Instant::now() + left
        });
        let account = self.server.account(identity.account.as_deref());
        if !self.bound || !Arc::ptr_eq(&account, &self.account) {
            if !account.bind_connection() {
                self.send_err(errors::MAX_ACCOUNT_CONNECTIONS_EXCEEDED);
                self.conn.close(CloseReason::MaxAccountConnectionsExceeded);
                return false;
            }
            self.unbind();
            self.bound = true;
            self.remove_all_subscriptions();
            self.account = account;
            self.results.clear();
        }
        let limited = identity.max_subscriptions.is_some() || identity.max_payload.is_some();
        self.user_limits = limited.then(|| {
            Box::new(UserLimits {
                max_subscriptions: identity.max_subscriptions,
                max_payload: identity.max_payload,
            })
        });
        self.apply_limits();
        if self.close_if_over_subscription_limit() {
            return false;
        }
        let mut details = self.conn.stats.details.lock();
        // Left empty for the global account, which monitoring reports for empty.
        if Arc::ptr_eq(&self.account, &self.server.global) {
            details.account.clear();
        } else {
            details.account.clone_from(&self.account.name);
        }
        if let Some(fields) = fields {
            details.name = fields.name.clone().unwrap_or_default();
            details.lang = fields.lang.clone().unwrap_or_default();
            details.version = fields.version.clone().unwrap_or_default();
        }
        details.user = (!identity.user.is_empty()).then_some(identity.user);
        // Kept for reloads: to check users again, and certificates against new pins.
        let keep =
            self.server.authenticator().is_required() || credentials.certificate_key.is_some();
        drop(details);
        self.client.auth.lock().credentials = keep.then(|| Box::new(credentials));
        self.conn.set_connected();
        true
    }

    fn handle(&mut self, op: ClientOp) {
        if self.trace {
            self.trace_line("<<-", &op.to_string());
        }
        match op {
            ClientOp::Pub(publish) => self.publish(publish),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => self.subscribe(subject, queue, sid),
            ClientOp::Unsub { sid, max } => self.unsubscribe(sid, max),
            ClientOp::Ping => self.ping(),
            ClientOp::Pong => self.pong(),
            ClientOp::Connect(json) => self.connect(&json),
            ClientOp::Info(json) => {
                if serde_json::from_slice::<serde_json::Value>(&json).is_err() {
                    self.conn.close(CloseReason::ProtocolViolation);
                }
            }
            ClientOp::Ok => {}
            ClientOp::Err(text) => {
                self.server.log.error(format_args!(
                    "cid:{} - Client Error {}",
                    self.conn.cid,
                    String::from_utf8_lossy(&text)
                ));
                self.conn.close(CloseReason::ParseError);
            }
        }
    }

    fn send_ok_if_verbose(&self) {
        if self.options.verbose {
            self.send_proto(encode::OK);
        }
    }

    /// Sends a protocol line (PING, PONG, +OK), traced when `-V` is on.
    fn send_proto(&self, line: &[u8]) {
        if self.trace {
            self.trace_line("->>", String::from_utf8_lossy(line).trim_end());
        }
        self.conn.send_now(line);
    }

    fn send_err(&self, text: &str) {
        if self.trace {
            self.trace_line("->>", &format!("-ERR {text}"));
        }
        self.conn.send_error(text);
    }

    /// `-ERR` for an operation refused while the connection stays: it goes out with the
    /// rest of this read batch's output, so a flood of refusals costs one write per batch
    /// rather than a writer wake-up each.
    fn queue_err(&mut self, text: &str) {
        if self.trace {
            self.trace_line("->>", &format!("-ERR {text}"));
        }
        if self.conn.queue_error(text) {
            self.flusher.mark(&self.conn);
        }
    }

    /// A permissions violation: `-ERR` to the client, `what` to the log.
    fn report_violation(&mut self, text: &str, what: &str) {
        self.queue_err(text);
        self.server.log.error(format_args!(
            "{} - cid:{} - {what}",
            self.conn.peer, self.conn.cid
        ));
    }

    /// A published message's payload in the trace log.
    #[cold]
    #[inline(never)]
    fn trace_payload(&self, message: &Message<'_>) {
        if let Some(trace_log) = &self.client.trace_log {
            trace_log.payload("<<-", message.payload.as_slice(), message.header_len);
        }
    }

    /// `127.0.0.1:5000 - cid:7 - <<- [SUB foo 1]`, nats-server's trace line shape.
    fn trace_line(&self, direction: &str, what: &str) {
        if let Some(trace_log) = &self.client.trace_log {
            trace_log.line(direction, what);
        }
    }

    fn connect(&mut self, json: &[u8]) {
        let fields: ConnectFields = match serde_json::from_slice(json) {
            Ok(fields) => fields,
            Err(_) => {
                self.conn.close(CloseReason::ProtocolViolation);
                return;
            }
        };
        if fields.account.as_deref().is_some_and(|a| !a.is_empty())
            || fields.new_account == Some(true)
        {
            self.send_err(errors::AUTHORIZATION_VIOLATION);
            self.conn.close(CloseReason::AuthenticationViolation);
            return;
        }
        let credentials = Credentials {
            user: fields.user.clone(),
            pass: fields.pass.clone(),
            token: fields.auth_token.clone(),
            nkey: fields.nkey.clone(),
            sig: fields.sig.clone(),
            jwt: fields.jwt.clone(),
            ..Credentials::default()
        };
        // bcrypt is slow by design: the check runs on a blocking thread (see `run`), so
        // a flood of logins does not hold up this worker's other connections. An auth
        // callout waits for its service, off the parser too.
        let authenticator = self.server.authenticator();
        if authenticator.uses_bcrypt() || authenticator.may_call_out() {
            self.pending_connect = Some(Box::new((fields, credentials)));
            return;
        }
        let reconnect = self.conn.was_admitted();
        if self.authenticate(credentials, Some(&fields)) {
            self.finish_connect(fields, reconnect);
        }
    }

    /// The connect advisory, once a first CONNECT is accepted.
    fn announce(&self, reconnect: bool) {
        if !reconnect && !self.conn.is_closed() {
            crate::monitor::client_event(
                &self.server,
                &self.client,
                crate::monitor::ClientEvent::Connect,
            );
        }
    }

    /// Runs a CONNECT whose credentials need bcrypt (off the reader's thread) or the auth
    /// callout service.
    async fn connect_checked_apart(&mut self, fields: ConnectFields, credentials: Credentials) {
        let (credentials, nonce) = self.with_connection_facts(credentials);
        let authenticator = self.server.authenticator();
        let mut result = if authenticator.uses_bcrypt() {
            let checked = credentials.clone();
            let (authenticator, nonce) = (Arc::clone(&authenticator), nonce.clone());
            tokio::task::spawn_blocking(move || {
                authenticator.authenticate(&checked, nonce.as_deref())
            })
            .await
            .unwrap_or(Err(AuthError::NoCredentials))
        } else {
            authenticator.authenticate(&credentials, nonce.as_deref())
        };
        if let Some(covered) = authenticator.callout_for(&credentials) {
            let callout = covered.callout;
            // Which configured users' accounts the service covers is the config form's
            // question; in operator mode the account's own users all go to it.
            let placed = result
                .as_ref()
                .ok()
                .and_then(|identity| identity.account.as_deref())
                .filter(|account| {
                    authenticator.trust.is_none() && *account != crate::account::GLOBAL_ACCOUNT
                });
            if callout.covers(&covered.presented, placed) {
                let asker = callout::Asker {
                    cid: self.conn.cid,
                    host: self.client_ip.clone(),
                    user: covered.presented,
                    credentials: &credentials,
                    fields: &fields,
                    nonce: nonce.as_deref(),
                    tls: self.client.tls.as_deref(),
                };
                result = callout::ask(&self.server, &callout, asker).await;
            }
            if let Ok(identity) = &mut result {
                let account = identity.account.as_deref();
                if account.unwrap_or(crate::account::GLOBAL_ACCOUNT) == callout.account {
                    callout::deny_callout_publish(&mut identity.permissions);
                }
            }
        }
        let reconnect = self.conn.was_admitted();
        if self.admit(result, credentials, Some(&fields)) {
            self.finish_connect(fields, reconnect);
        }
    }

    /// Applies an authenticated CONNECT's options.
    fn finish_connect(&mut self, fields: ConnectFields, reconnect: bool) {
        self.apply_connect(fields, reconnect);
        self.announce(reconnect);
    }

    fn apply_connect(&mut self, fields: ConnectFields, reconnect: bool) {
        let opts = self.server.opts();
        self.options.merge(fields);
        // The first round-trip estimate, as nats-server makes it: from the INFO (sent as
        // the connection started) to the CONNECT answering it.
        if self.conn.stats.rtt.load(Ordering::Relaxed) == 0 {
            let since = std::time::SystemTime::now()
                .duration_since(self.conn.stats.start)
                .unwrap_or_default();
            let rtt = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
            self.conn.stats.rtt.store(rtt.max(1), Ordering::Relaxed);
        }
        // A repeated CONNECT starts the client afresh, without its subscriptions.
        if reconnect {
            self.remove_all_subscriptions();
        }
        let headers = self.options.headers && !opts.no_header_support;
        self.parser.set_headers(headers);
        self.client.headers.store(headers, Ordering::Relaxed);
        self.client.echo.store(self.options.echo, Ordering::Relaxed);
        if !(0..=1).contains(&self.options.protocol) {
            self.send_err(errors::INVALID_CLIENT_PROTOCOL);
            self.conn.close(CloseReason::BadClientProtocolVersion);
            return;
        }
        self.client
            .async_info
            .store(self.options.protocol >= 1, Ordering::Relaxed);
        if self.options.no_responders && !headers {
            self.send_err(errors::NO_RESPONDERS_REQUIRES_HEADERS);
            self.conn.close(CloseReason::NoRespondersRequiresHeaders);
            return;
        }
        self.send_ok_if_verbose();
    }

    fn pong(&mut self) {
        self.pings_out = 0;
        if let Some(sent) = self.ping_sent.take() {
            let rtt = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.conn.stats.rtt.store(rtt.max(1), Ordering::Relaxed);
        }
    }

    fn ping(&mut self) {
        // Whoever waits for this PONG may look at monitoring next: the figures are current.
        self.publish_stats();
        self.send_proto(encode::PONG);
        // The first PONG after CONNECT is followed by an INFO naming the bound account, for
        // clients that take asynchronous INFO.
        if self.conn.is_connected() && !self.first_pong_sent {
            self.first_pong_sent = true;
            if self.options.protocol >= 1 {
                let line = self.server.info_line(
                    self.conn.cid,
                    &self.client_ip,
                    None,
                    Some(&self.account.name),
                );
                self.conn.send_now(&line);
            }
        }
    }

    fn subscribe(&mut self, subject: Bytes, queue: Option<Bytes>, sid: Bytes) {
        if !self
            .client
            .permits
            .may_subscribe(&subject, queue.as_deref())
        {
            let text = subscription_violation(&subject, queue.as_deref());
            let log = match &queue {
                Some(queue) => format!(
                    "Subscription Violation - Subject {}, Queue: {}, SID {}",
                    go_quote(&subject),
                    go_quote(queue),
                    String::from_utf8_lossy(&sid)
                ),
                None => format!(
                    "Subscription Violation - Subject {}, SID {}",
                    go_quote(&subject),
                    String::from_utf8_lossy(&sid)
                ),
            };
            self.report_violation(&text, &log);
            return;
        }
        let max_subs = self.max_subscriptions();
        let account = Arc::clone(&self.account);
        {
            let mut subs = self.client.subs.lock();
            if max_subs.is_some_and(|max| subs.len() >= max) {
                drop(subs);
                self.server.log.error(format_args!(
                    "cid:{} - {}",
                    self.conn.cid,
                    errors::MAX_SUBSCRIPTIONS_EXCEEDED
                ));
                self.send_err(errors::MAX_SUBSCRIPTIONS_EXCEEDED);
                return;
            }
            if !subs.contains_key(&sid) {
                // Arguments are slices of the read buffer; copying them lets that buffer go.
                let sub = SubRef(Arc::new(Subscription::new(
                    Bytes::copy_from_slice(&subject),
                    queue.as_deref().map(Bytes::copy_from_slice),
                    Bytes::copy_from_slice(&sid),
                    Arc::clone(&self.client) as Target,
                )));
                match account.subscribe(sub.clone()) {
                    Ok(()) => {
                        subs.insert(sub.sid.clone(), sub);
                    }
                    Err(SublistError::InvalidSubject) => {
                        drop(subs);
                        self.send_err(errors::INVALID_SUBJECT);
                        return;
                    }
                }
            }
        }
        self.send_ok_if_verbose();
    }

    fn unsubscribe(&mut self, sid: Bytes, max: Option<Option<u64>>) {
        let found = self.client.subs.lock().get(&sid).cloned();
        if let Some(sub) = found {
            match max {
                Some(Some(max)) if max > 0 && max > sub.delivered() => sub.set_max(max),
                _ => {
                    self.client.subs.lock().remove(&sid);
                    self.account.unsubscribe(&sub);
                }
            }
        }
        self.send_ok_if_verbose();
    }

    fn publish(&mut self, publish: Publish) {
        self.in_msgs += 1;
        self.in_bytes += publish.payload().len() as u64;
        // Pedantic clients hear of a subject that is not literal, and it goes on.
        if self.options.pedantic && !is_valid_literal_subject(publish.subject()) {
            self.send_err(errors::INVALID_PUBLISH_SUBJECT);
        }
        // A mapping rewrites the subject before anything else looks at it.
        let mapped = if self.account.has_mappings() {
            self.map_subject(publish.subject())
        } else {
            None
        };
        let message = Message {
            publisher: Some(self.conn.cid),
            subject: mapped.as_deref().unwrap_or(publish.subject()),
            reply: publish.reply().unwrap_or_default(),
            header_len: publish.header_len.unwrap_or(0),
            header_len_text: publish.header_len_text(),
            size_text: publish.size_text(),
            payload: publish.payload(),
        };
        if self.trace {
            self.trace_payload(&message);
        }
        // Only messages with headers can ask to be traced; the rest never leave this path.
        if message.header_len > 0 {
            return self.publish_with_headers(message, publish.subject(), mapped.is_some());
        }
        self.route(&message);
    }

    /// Publishes a message with headers, which may ask to be traced; `published` is the
    /// subject it came on, before any mapping. Out of line, so that the publish path of
    /// messages without headers stays as it was.
    #[inline(never)]
    fn publish_with_headers(&mut self, message: Message<'_>, published: &[u8], mapped: bool) {
        let payload = message.payload.as_slice();
        match super::trace::requested(payload, message.header_len, &self.account, &self.server.log)
        {
            Asked::Nothing => self.route(&message),
            Asked::Trace(request) => self.route_traced(message, request, published, mapped),
            Asked::Drop => {}
            Asked::Disable => self.route_trace_disabled(message),
        }
    }

    /// Checks and delivers a published message; inlined into the publish path.
    #[inline(always)]
    fn route(&mut self, message: &Message<'_>) {
        let reply = (!message.reply.is_empty()).then_some(message.reply);
        // Asked once: the answer may use up a response the client was allowed.
        let permitted = self.client.permits.may_publish(message.subject);
        if !(permitted && self.clean_publish(message.subject, reply))
            && self
                .refuse_publish(message.subject, reply, permitted)
                .is_some()
        {
            return;
        }
        self.send_ok_if_verbose();
        let result = self.match_subject(message.subject);
        let delivered =
            !result.is_empty() && deliver(&self.account, &result, message, &mut self.flusher, None);
        self.after_delivery(message, delivered);
    }

    /// Tells a requester nobody took its request, when it asked to be told.
    #[inline]
    fn after_delivery(&mut self, message: &Message<'_>, delivered: bool) {
        if !delivered && !message.reply.is_empty() && self.options.no_responders {
            self.send_no_responders(message.subject, message.reply);
        }
    }

    /// Checks, delivers and traces a message the publisher asked to be traced, if it may
    /// publish the trace where it asked; else the message is refused, as nats-server
    /// refuses it. A message the checks refuse is traced with the reason.
    fn route_traced(
        &mut self,
        message: Message<'_>,
        request: super::trace::TraceRequest,
        published: &[u8],
        mapped: bool,
    ) {
        if !self.client.permits.may_publish_by_rule(&request.dest)
            || is_reserved_subject(&request.dest)
        {
            let dest = go_quote(&request.dest);
            let text = format!("Permissions Violation for Publish to {dest}");
            self.report_violation(&text, &format!("Publish Violation - Subject {dest}"));
            return;
        }
        let reply = (!message.reply.is_empty()).then_some(message.reply);
        let permitted = self.client.permits.may_publish(message.subject);
        let refused = self.refuse_publish(message.subject, reply, permitted);
        if refused.is_none() {
            self.send_ok_if_verbose();
        }
        let ingress = super::trace::Ingress {
            cid: self.conn.cid,
            name: self.conn.stats.details.lock().name.clone(),
            account: self.account.name.clone(),
            subject: published.to_vec(),
            error: refused,
        };
        // Refused, or trace-only: nothing was delivered, and nobody is told so.
        if let Some(delivered) = self.deliver_traced(request, ingress, mapped, &message) {
            self.after_delivery(&message, delivered);
        }
    }

    /// Publishes a message whose trace is turned off here: it goes on with its
    /// `Nats-Trace-Dest` set to `trace disabled`, so that nothing downstream traces it.
    fn route_trace_disabled(&mut self, message: Message<'_>) {
        let payload = message.payload.as_slice();
        let Some((payload, header_len)) =
            HeaderBlock::set_in(payload, message.header_len, TRACE_DEST, TRACE_DISABLED)
        else {
            return self.route(&message);
        };
        let payload = Bytes::from(payload);
        let (header_len_text, size_text) = (decimal(header_len), decimal(payload.len()));
        let message = Message {
            header_len,
            header_len_text: header_len_text.as_bytes(),
            size_text: size_text.as_bytes(),
            payload: SharedSlice::whole(&payload),
            ..message
        };
        self.route(&message);
    }

    /// The subject an account mapping sends a publish to `subject` to, if any, noted in
    /// the trace log as nats-server notes it.
    fn map_subject(&self, subject: &[u8]) -> Option<Vec<u8>> {
        let mapped = self.account.mapped_subject(subject)?;
        if self.trace {
            let what = format!(
                "MAPPING {} -> {}",
                String::from_utf8_lossy(subject),
                String::from_utf8_lossy(&mapped)
            );
            self.trace_line("<<-", &what);
        }
        Some(mapped)
    }

    /// Whether a publish the permissions allow passes the other checks without a word
    /// to the client, the common case, decided without leaving the publish path.
    #[inline(always)]
    fn clean_publish(&self, subject: &[u8], reply: Option<&[u8]>) -> bool {
        !is_reserved_subject(subject) && !reply.is_some_and(is_reserved_reply)
    }

    /// Refuses a publish the client's permissions (`permitted` says what they said) or
    /// the reserved subjects forbid, telling the client; returns the error it was sent.
    #[cold]
    #[inline(never)]
    fn refuse_publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        permitted: bool,
    ) -> Option<String> {
        if !permitted {
            let text = format!("Permissions Violation for Publish to {}", go_quote(subject));
            let what = format!("Publish Violation - Subject {}", go_quote(subject));
            self.report_violation(&text, &what);
            return Some(text);
        }
        if is_reserved_subject(subject) {
            let text = format!("Permissions Violation for Publish to {}", go_quote(subject));
            self.queue_err(&text);
            return Some(text);
        }
        if let Some(reply) = reply.filter(|r| is_reserved_reply(r)) {
            let text = format!(
                "Permissions Violation for Publish with Reply of {}",
                go_quote(reply)
            );
            self.queue_err(&text);
            return Some(text);
        }
        None
    }

    /// Delivers a traced message (unless it is trace-only or was refused) and publishes
    /// what happened to it, in the publisher's account, to the subject its
    /// `Nats-Trace-Dest` named. Returns whether it was delivered, `None` when it was not
    /// meant to be. Out of line, so that the publish path of untraced messages stays as
    /// it was.
    #[inline(never)]
    fn deliver_traced(
        &mut self,
        request: super::trace::TraceRequest,
        ingress: super::trace::Ingress,
        mapped: bool,
        message: &Message<'_>,
    ) -> Option<bool> {
        let mut trace = Trace {
            only: request.only,
            ..Trace::default()
        };
        if mapped {
            trace.events.push(TraceEvent::Mapping {
                at: SystemTime::now(),
                to: message.subject.to_vec(),
            });
        }
        let refused = ingress.error.is_some();
        let delivered = !refused && {
            let result = self.match_subject(message.subject);
            !result.is_empty()
                && deliver(
                    &self.account,
                    &result,
                    message,
                    &mut self.flusher,
                    Some(&mut trace),
                )
        };
        let event = super::trace::event(&self.server, &request, &ingress, message, &trace);
        InternalClient::new(Arc::clone(&self.account), ConnKind::System).publish(
            &request.dest,
            b"",
            0,
            event.into(),
            &mut self.flusher,
        );
        (!request.only && !refused).then_some(delivered)
    }

    /// Looks the subject up in the connection's own cache first; the cache is dropped
    /// whenever the account's subscriptions changed.
    #[inline(always)]
    fn match_subject(&mut self, subject: &[u8]) -> MatchResult {
        let generation = self.account.generation();
        if generation != self.results_generation {
            self.results.clear();
            self.results_generation = generation;
        } else if let Some(hit) = self.results.get(subject) {
            return Arc::clone(hit);
        }
        let result = self.account.matches(subject);
        if self.results.len() >= RESULT_CACHE_MAX {
            self.results.clear();
        }
        self.results
            .insert(Bytes::copy_from_slice(subject), Arc::clone(&result));
        result
    }

    /// Tells a requester that nobody is subscribed: a status-only `HMSG` with code 503 to
    /// its own subscription on the reply subject.
    fn send_no_responders(&mut self, subject: &[u8], reply: &[u8]) {
        let result = self.account.matches(reply);
        let own = result
            .plain
            .iter()
            .find(|sub| sub.target.cid() == Some(self.conn.cid));
        let Some(sub) = own else {
            return;
        };
        let block = natsd_proto::HeaderBlock::status(503, None)
            .insert("Nats-Subject", &String::from_utf8_lossy(subject))
            .encode();
        let len = encode::decimal(block.len());
        let line = encode::MsgLine {
            subject: reply,
            sid: &sub.sid,
            reply: b"",
            sizes: encode::Sizes::WithHeaders(len.as_bytes(), len.as_bytes()),
        };
        let block = Bytes::from(block);
        self.conn.queue_message(line, SharedSlice::whole(&block));
        self.flusher.mark(&self.conn);
    }

    pub(super) fn remove_all_subscriptions(&mut self) {
        let subs = self.take_subscriptions();
        if self.trace {
            for sub in &subs {
                self.trace_line(
                    "<->",
                    &format!("DELSUB {}", String::from_utf8_lossy(&sub.sid)),
                );
            }
        }
        self.account.unsubscribe_all(subs);
    }

    /// Whether the client holds so many subscriptions that recording and removing them at
    /// close is long work.
    pub(super) fn holds_many_subscriptions(&self) -> bool {
        self.client.subs.lock().len() > UNSUBSCRIBE_BATCH
    }

    fn take_subscriptions(&mut self) -> Vec<SubRef> {
        self.client.subs.lock().drain().map(|(_, s)| s).collect()
    }
}

/// Subjects a client may not publish to.
fn is_reserved_subject(subject: &[u8]) -> bool {
    (subject.len() > GATEWAY_REPLY_PREFIX.len() && subject.starts_with(GATEWAY_REPLY_PREFIX))
        || subject.starts_with(RAFT_PREFIX)
}

/// Reply subjects a client may not use, since the server gives them meaning.
fn is_reserved_reply(reply: &[u8]) -> bool {
    reply.starts_with(SERVICE_REPLY_PREFIX)
        || [JS_ACK_PREFIX, GATEWAY_REPLY_PREFIX]
            .iter()
            .any(|prefix| reply.len() > prefix.len() && reply.starts_with(prefix))
}

/// Grows the read size when reads fill it and shrinks it after short reads.
fn next_read_size(current: usize, read: usize) -> usize {
    if read >= current {
        (current * 2).min(READ_BUFFER_MAX)
    } else if read < current / 2 {
        (current / 2).max(READ_BUFFER_MIN)
    } else {
        current
    }
}
