//! The server: listener, accept loop, connection registry, lame duck mode, shutdown, and the
//! internal-client API that server-side subscribers use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use natsd_proto::encode;
use parking_lot::{Mutex, RwLock};
use rand::Rng;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::account::{Account, AccountConfig, GLOBAL_ACCOUNT};
use crate::info::ServerInfo;
use crate::log::Logger;
use crate::monitor::MonitorState;
use crate::options::{Options, COMPATIBLE_VERSION, NATSD_VERSION};
use crate::outbound::{ClientShared, CloseReason, Flusher};
use crate::route::{deliver, Message};
use crate::subscription::{InternalHandler, SubRef, Subscription, Target};

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("can't listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid subject")]
    InvalidSubject,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// State shared by the accept loop and every connection.
#[derive(Debug)]
pub(crate) struct ServerInner {
    /// The settings in force; reload swaps them.
    opts: RwLock<Arc<Options>>,
    /// Bumped on every reload, so connections pick up new limits.
    config_generation: AtomicU64,
    pub(crate) log: Arc<Logger>,
    /// Where the client listener is bound.
    pub(crate) local_addr: SocketAddr,
    pub(crate) global: Arc<Account>,
    /// Accounts by name, the global and system ones included. Accounts from JWTs join
    /// on first use.
    accounts: RwLock<HashMap<String, Arc<Account>>>,
    /// Where the server's own services and events live.
    system: Option<Arc<Account>>,
    info: RwLock<ServerInfo>,
    pub(crate) monitor: MonitorState,
    /// The TLS acceptor for clients, rebuilt on reload.
    tls: RwLock<Option<crate::tls::Acceptor>>,
    clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    clients_gone: Notify,
    next_cid: AtomicU64,
    lame_duck: AtomicBool,
    /// Flipped to true to stop accepting.
    stop_accepting: watch::Sender<bool>,
    /// Flipped to true once shutdown has finished.
    stopped: watch::Sender<bool>,
    shutting_down: AtomicBool,
}

impl ServerInner {
    pub(crate) fn opts(&self) -> Arc<Options> {
        Arc::clone(&self.opts.read())
    }

    pub(crate) fn tls(&self) -> Option<crate::tls::Acceptor> {
        self.tls.read().clone()
    }

    pub(crate) fn set_tls(&self, acceptor: Option<crate::tls::Acceptor>) {
        *self.tls.write() = acceptor;
    }

    pub(crate) fn server_id(&self) -> String {
        self.info.read().server_id.clone()
    }

    pub(crate) fn server_name(&self) -> String {
        self.info.read().server_name.clone()
    }

    /// Client connections accepted since start.
    pub(crate) fn total_connections(&self) -> u64 {
        self.next_cid.load(Ordering::Relaxed).saturating_sub(1)
    }

    pub(crate) fn port(&self) -> u16 {
        self.info.read().port
    }

    pub(crate) fn config_generation(&self) -> u64 {
        self.config_generation.load(Ordering::Acquire)
    }

    /// Puts reloaded settings in force; connections pick up new limits at their next read.
    pub(crate) fn replace_opts(&self, opts: Arc<Options>) {
        *self.opts.write() = opts;
        self.config_generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn info_mut(&self) -> parking_lot::RwLockWriteGuard<'_, ServerInfo> {
        self.info.write()
    }

    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// The INFO line for one client; `bound_account` is given for the INFO that follows
    /// the first PONG and names the client's account.
    pub(crate) fn info_line(
        &self,
        cid: u64,
        client_ip: &str,
        nonce: Option<&str>,
        bound_account: Option<&str>,
    ) -> Vec<u8> {
        let mut info = self.info.read().clone();
        info.client_id = cid;
        info.client_ip = client_ip.to_owned();
        info.nonce = nonce.unwrap_or_default().to_owned();
        info.ldm = self.lame_duck.load(Ordering::Acquire);
        if let Some(account) = bound_account {
            info.connect_info = true;
            account.clone_into(&mut info.remote_account);
        }
        let mut out = BytesMut::new();
        encode::info(&mut out, &info.to_json());
        out.to_vec()
    }

    /// Adds a connection unless `max_connections` is reached.
    pub(crate) fn register(&self, client: &Arc<ClientShared>) -> bool {
        let mut clients = self.clients.lock();
        if clients.len() >= self.opts().max_connections
            || self.shutting_down.load(Ordering::Acquire)
        {
            return false;
        }
        clients.insert(client.cid, Arc::clone(client));
        true
    }

    /// Removes a closed connection, keeping what monitoring reports about it.
    pub(crate) fn unregister(&self, client: &ClientShared) {
        self.monitor.closed(client, self.opts().max_closed_clients);
        let mut clients = self.clients.lock();
        clients.remove(&client.cid);
        if clients.is_empty() {
            self.clients_gone.notify_waiters();
        }
    }

    pub(crate) fn snapshot_clients(&self) -> Vec<Arc<ClientShared>> {
        self.clients.lock().values().cloned().collect()
    }

    /// The connected clients bound to `account`.
    pub(crate) fn clients_of(&self, account: &Account) -> Vec<Arc<ClientShared>> {
        self.snapshot_clients()
            .into_iter()
            .filter(|client| {
                crate::monitor::connz::account_of_details(&client.stats.details.lock())
                    == account.name
            })
            .collect()
    }
}

/// A running server.
#[derive(Debug, Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
    local_addr: SocketAddr,
}

/// A server-side subscription; dropping it does not unsubscribe, call
/// [`Server::unsubscribe_internal`].
#[derive(Debug, Clone)]
pub struct InternalSubscription(SubRef);

impl Server {
    /// Binds the client listener, starts accepting connections and reports ready.
    pub async fn start(opts: Options, log: Arc<Logger>) -> Result<Server, ServerError> {
        let server = Server::listen(opts, log).await?;
        server.announce_ready();
        Ok(server)
    }

    /// Logs `Server is ready`, the line harnesses wait for; the binary calls it once its
    /// other listeners and the ports file are in place.
    pub fn announce_ready(&self) {
        self.inner.log.info(format_args!("Server is ready"));
    }

    /// Binds the client listener and starts accepting connections, without reporting ready.
    pub async fn listen(opts: Options, log: Arc<Logger>) -> Result<Server, ServerError> {
        let tls = opts.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let port = opts.port.unwrap_or(0);
        let addr = host_port(&opts.host, port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Listen {
                addr: addr.clone(),
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: addr.clone(),
                source,
            })?;
        let server_id = new_server_id();
        let server_name = opts
            .server_name
            .clone()
            .unwrap_or_else(|| server_id.clone());
        log.info(format_args!(
            "Starting natsd (compatible with nats-server {COMPATIBLE_VERSION})"
        ));
        log.info(format_args!("  Version:  {NATSD_VERSION}"));
        log.info(format_args!("  Name:     {server_name}"));
        log.info(format_args!("  ID:       {server_id}"));
        if opts.max_payload > 8 * 1024 * 1024 {
            log.warn(format_args!(
                "Maximum payloads over 8.00 MB are generally discouraged and could lead to poor performance"
            ));
        }

        let (stop_accepting, stop_rx) = watch::channel(false);
        let (stopped, _) = watch::channel(false);
        let global = Arc::new(Account::new(GLOBAL_ACCOUNT, !opts.disable_sublist_cache));
        let mut accounts = HashMap::new();
        accounts.insert(GLOBAL_ACCOUNT.to_owned(), Arc::clone(&global));
        for config in &opts.accounts {
            accounts.insert(
                config.name.clone(),
                Arc::new(Account::with_limits(
                    &config.name,
                    !opts.disable_sublist_cache,
                    config.limits,
                )),
            );
        }
        let system = opts.system_account_name().map(|name| {
            Arc::clone(
                accounts
                    .entry(name.to_owned())
                    .or_insert_with(|| Arc::new(Account::new(name, !opts.disable_sublist_cache))),
            )
        });
        let inner = Arc::new(ServerInner {
            global,
            accounts: RwLock::new(accounts),
            system,
            info: RwLock::new(info_for(&opts, server_id, server_name, local_addr.port())),
            opts: RwLock::new(Arc::new(opts)),
            config_generation: AtomicU64::new(0),
            log,
            local_addr,
            monitor: MonitorState::new(),
            tls: RwLock::new(tls),
            clients: Mutex::new(HashMap::new()),
            clients_gone: Notify::new(),
            next_cid: AtomicU64::new(1),
            lame_duck: AtomicBool::new(false),
            stop_accepting,
            stopped,
            shutting_down: AtomicBool::new(false),
        });
        inner.log.info(format_args!(
            "Listening for client connections on {}",
            display_addr(&local_addr)
        ));
        if let Some(tls) = &inner.opts().tls {
            if inner.opts().allow_non_tls {
                inner
                    .log
                    .info(format_args!("TLS available for client connections"));
            } else {
                inner
                    .log
                    .info(format_args!("TLS required for client connections"));
            }
            if tls.verify || tls.verify_and_map {
                inner
                    .log
                    .info(format_args!("Client certificates are verified"));
            }
        }
        tokio::spawn(accept_loop(Arc::clone(&inner), listener, stop_rx));
        let server = Server { inner, local_addr };
        crate::monitor::subscribe_requests(&server)?;
        crate::imports::wire(server.inner())?;
        server.inner().apply_account_limits(&server.inner().opts());
        crate::resolver::subscribe(server.inner())?;
        Ok(server)
    }

    pub(crate) fn from_inner(inner: Arc<ServerInner>) -> Server {
        let local_addr = inner.local_addr;
        Server { inner, local_addr }
    }

    pub(crate) fn inner(&self) -> &Arc<ServerInner> {
        &self.inner
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `nats://host:port` for clients on this machine.
    pub fn client_url(&self) -> String {
        format!("nats://{}", display_addr(&self.local_addr))
    }

    pub fn server_id(&self) -> String {
        self.inner.server_id()
    }

    pub fn server_name(&self) -> String {
        self.inner.server_name()
    }

    /// The TLS acceptor for clients, when TLS is configured.
    pub fn tls_acceptor(&self) -> Option<crate::tls::Acceptor> {
        self.inner.tls()
    }

    /// The settings in force.
    pub fn options(&self) -> Arc<Options> {
        self.inner.opts()
    }

    /// Counts one monitoring request, for `/varz` `http_req_stats`.
    pub fn count_monitor_request(&self, path: &str) {
        self.inner.monitor.count_request(path);
    }

    pub fn num_clients(&self) -> usize {
        self.inner.clients.lock().len()
    }

    /// Subscriptions held by client connections (the server's own are not counted).
    pub fn num_subscriptions(&self) -> usize {
        self.inner
            .snapshot_clients()
            .iter()
            .map(|client| client.subs.lock().len())
            .sum()
    }

    pub fn is_lame_duck(&self) -> bool {
        self.inner.lame_duck.load(Ordering::Acquire)
    }

    /// Stops accepting, closes every connection (flushing what is queued) and waits until
    /// they are gone, at most `grace`.
    pub async fn shutdown(&self) {
        if self.inner.shutting_down.swap(true, Ordering::AcqRel) {
            self.stopped().await;
            return;
        }
        let _ = self.inner.stop_accepting.send(true);
        for client in self.inner.snapshot_clients() {
            client.close(CloseReason::ServerShutdown);
        }
        let gone = async {
            loop {
                let notified = self.inner.clients_gone.notified();
                if self.inner.clients.lock().is_empty() {
                    break;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), gone).await;
        self.inner.log.info(format_args!("Server Exiting.."));
        let _ = self.inner.stopped.send(true);
    }

    /// Resolves once [`Server::shutdown`] has finished.
    pub async fn stopped(&self) {
        let mut rx = self.inner.stopped.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Lame duck mode: stop accepting, tell clients (INFO with `ldm`), wait the grace period,
    /// then close clients spread over the rest of `lame_duck_duration`, then shut down.
    pub async fn lame_duck(&self) {
        if self.inner.lame_duck.swap(true, Ordering::AcqRel) {
            return;
        }
        let opts = self.inner.opts();
        self.inner.log.info(format_args!(
            "Entering lame duck mode, stop accepting new clients"
        ));
        let _ = self.inner.stop_accepting.send(true);
        for client in self.inner.snapshot_clients() {
            if client.protocol.load(Ordering::Relaxed) >= 1 {
                let client_ip = client.peer.ip().to_string();
                client.send_now(&self.inner.info_line(client.cid, &client_ip, None, None));
            }
        }
        tokio::time::sleep(opts.lame_duck_grace_period).await;
        let clients = self.inner.snapshot_clients();
        if !clients.is_empty() {
            let spread = opts
                .lame_duck_duration
                .saturating_sub(opts.lame_duck_grace_period)
                .max(Duration::from_millis(1));
            let step = (spread / clients.len() as u32).min(Duration::from_secs(1));
            self.inner.log.info(format_args!(
                "Closing existing clients over {:?}",
                step * clients.len() as u32
            ));
            for client in clients {
                client.close(CloseReason::ServerShutdown);
                if !step.is_zero() {
                    tokio::time::sleep(step).await;
                }
            }
        }
        self.shutdown().await;
    }

    /// Subscribes a server-side handler in the global account. Messages reach it through the
    /// same routing as client subscriptions, on the publisher's task.
    pub fn subscribe_internal(
        &self,
        subject: &str,
        queue: Option<&str>,
        handler: InternalHandler,
    ) -> Result<InternalSubscription, ServerError> {
        self.inner
            .subscribe_in(&self.inner.global, subject, queue, handler)
            .map(InternalSubscription)
    }

    pub fn unsubscribe_internal(&self, sub: &InternalSubscription) {
        self.inner.global.remove_subscription(&sub.0);
    }

    /// Publishes from the server itself into the global account. Returns whether anything
    /// received the message.
    pub fn publish_internal(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        body: &[u8],
    ) -> bool {
        self.inner.publish_in(
            &self.inner.global,
            subject.as_bytes(),
            reply.unwrap_or_default().as_bytes(),
            headers.unwrap_or_default(),
            body,
        )
    }
}

impl ServerInner {
    /// The account named `name`, or the global account for `None` or an unknown name.
    pub(crate) fn account(self: &Arc<Self>, name: Option<&str>) -> Arc<Account> {
        let Some(name) = name else {
            return Arc::clone(&self.global);
        };
        if let Some(account) = self.accounts.read().get(name) {
            return Arc::clone(account);
        }
        self.load_account(name)
            .unwrap_or_else(|| Arc::clone(&self.global))
    }

    /// An account already in use, without loading it.
    pub(crate) fn loaded_account(&self, name: &str) -> Option<Arc<Account>> {
        self.accounts.read().get(name).cloned()
    }

    /// Registers an account on first use, as nats-server does with JWT accounts (and with
    /// accounts a reload added to the config file), and subscribes its imports.
    fn load_account(self: &Arc<Self>, name: &str) -> Option<Arc<Account>> {
        let opts = self.opts();
        let config = account_config(&opts, name)?;
        let account = {
            let mut accounts = self.accounts.write();
            if let Some(existing) = accounts.get(name) {
                return Some(Arc::clone(existing));
            }
            let account = Arc::new(Account::with_limits(
                name,
                !opts.disable_sublist_cache,
                config.limits,
            ));
            accounts.insert(name.to_owned(), Arc::clone(&account));
            account
        };
        if let Err(error) = crate::imports::wire_account(self, &config)
            .and_then(|()| crate::monitor::serve_account(self, Arc::clone(&account)))
        {
            self.log.error(format_args!("Account {name}: {error}"));
        }
        crate::resolver::schedule_expiry(self, &account);
        Some(account)
    }

    /// An account's exports, imports and limits, from the config file or its JWT.
    pub(crate) fn account_config(&self, name: &str) -> Option<AccountConfig> {
        account_config(&self.opts(), name)
    }

    /// Gives every account in use the limits `opts` sets for it (at start, and before a
    /// reload is put in force, so that clients find the new limits when they see the new
    /// settings).
    pub(crate) fn apply_account_limits(&self, opts: &Options) {
        for account in self.all_accounts() {
            if let Some(config) = account_config(opts, &account.name) {
                account.set_limits(config.limits);
            }
        }
    }

    /// The system account, or the global one when there is none.
    pub(crate) fn system_account(&self) -> Arc<Account> {
        self.system
            .as_ref()
            .map_or_else(|| Arc::clone(&self.global), Arc::clone)
    }

    pub(crate) fn has_system_account(&self) -> bool {
        self.system.is_some()
    }

    /// Every account, the global one first.
    pub(crate) fn all_accounts(&self) -> Vec<Arc<Account>> {
        let mut all = vec![Arc::clone(&self.global)];
        all.extend(
            self.accounts
                .read()
                .values()
                .filter(|a| !Arc::ptr_eq(a, &self.global))
                .cloned(),
        );
        all
    }

    /// The subscription indexes' figures, summed over every account.
    pub(crate) fn sublist_stats(&self) -> natsd_subject::SublistStats {
        let mut total = natsd_subject::SublistStats::default();
        let mut fanout_sum = 0.0;
        for account in self.all_accounts() {
            let stats = account.sublist.stats();
            total.subscriptions += stats.subscriptions;
            total.cached_results += stats.cached_results;
            total.inserts += stats.inserts;
            total.removes += stats.removes;
            total.matches += stats.matches;
            total.max_fanout = total.max_fanout.max(stats.max_fanout);
            fanout_sum += stats.avg_fanout * stats.cached_results as f64;
            total.cache_hit_rate += stats.cache_hit_rate * stats.matches as f64;
        }
        if total.matches > 0 {
            total.cache_hit_rate /= total.matches as f64;
        }
        if total.cached_results > 0 {
            total.avg_fanout = fanout_sum / total.cached_results as f64;
        }
        total
    }

    /// Subscribes a server-side handler in `account`.
    pub(crate) fn subscribe_in(
        &self,
        account: &Account,
        subject: &str,
        queue: Option<&str>,
        handler: InternalHandler,
    ) -> Result<SubRef, ServerError> {
        let sub = SubRef(Arc::new(Subscription::new(
            Bytes::copy_from_slice(subject.as_bytes()),
            queue.map(|q| Bytes::copy_from_slice(q.as_bytes())),
            Bytes::new(),
            Target::Internal(handler),
        )));
        account
            .sublist
            .insert(subject.as_bytes(), queue.map(str::as_bytes), sub.clone())
            .map_err(|_| ServerError::InvalidSubject)?;
        Ok(sub)
    }

    /// Publishes from the server into `account`; returns whether anything received it.
    pub(crate) fn publish_in(
        &self,
        account: &Account,
        subject: &[u8],
        reply: &[u8],
        headers: &[u8],
        body: &[u8],
    ) -> bool {
        let mut payload = BytesMut::with_capacity(headers.len() + body.len());
        payload.extend_from_slice(headers);
        payload.extend_from_slice(body);
        let payload = payload.freeze();
        let header_text = encode::decimal(headers.len());
        let size_text = encode::decimal(payload.len());
        let message = Message {
            subject,
            reply,
            header_len: headers.len(),
            header_len_text: header_text.as_bytes(),
            size_text: size_text.as_bytes(),
            payload: natsd_proto::SharedSlice::whole(&payload),
        };
        let result = account.sublist.matches(subject);
        let mut flusher = Flusher::default();
        deliver(account, &result, None, &message, &mut flusher)
    }
}

async fn accept_loop(
    inner: Arc<ServerInner>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    tokio::spawn(crate::client::serve(Arc::clone(&inner), stream, peer));
                }
                Err(error) => {
                    // Usually out of file descriptors: wait a little rather than spin.
                    inner.log.error(format_args!("Temporary Client Accept Error({error}), sleeping {}ms", backoff.as_millis()));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// An account's exports, imports and limits in `opts`: from the config file, or from its
/// JWT in operator mode.
pub(crate) fn account_config(opts: &Options, name: &str) -> Option<AccountConfig> {
    if let Some(config) = opts.accounts.iter().find(|a| a.name == name) {
        return Some(config.clone());
    }
    let trust = opts.authorization.trust.as_ref()?;
    let entry = trust.account(name)?;
    Some(AccountConfig::from_jwt(
        &entry.claims,
        trust,
        natsd_auth::jwt::now_unix(),
    ))
}

/// The INFO every client is greeted with, before the per-client fields.
pub(crate) fn info_for(
    opts: &Options,
    server_id: String,
    server_name: String,
    port: u16,
) -> ServerInfo {
    ServerInfo {
        server_id,
        server_name,
        version: COMPATIBLE_VERSION.to_owned(),
        proto: 1,
        go: format!("natsd {NATSD_VERSION}"),
        host: opts.host.clone(),
        port,
        headers: !opts.no_header_support,
        // Clients that may connect without credentials (no_auth_user) are not asked for any.
        auth_required: opts.authorization.is_required()
            && opts.authorization.no_auth_user.is_none(),
        tls_required: opts.tls.is_some() && !opts.allow_non_tls,
        tls_verify: opts
            .tls
            .as_ref()
            .is_some_and(|t| t.verify || t.verify_and_map),
        tls_available: opts.tls.is_some() && opts.allow_non_tls,
        max_payload: opts.max_payload,
        ..ServerInfo::default()
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn display_addr(addr: &SocketAddr) -> String {
    addr.to_string()
}

/// A server id shaped like nats-server's: `N` and 55 base32 characters.
fn new_server_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    std::iter::once('N')
        .chain((0..55).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])))
        .collect()
}
