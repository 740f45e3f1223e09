//! The server's shared state: the registry of client connections, the accounts and the
//! trust they are admitted under (one owner, one lock), the settings in force, lame duck
//! mode and shutdown, and the [`Extension`] hook through which services plug in at start
//! and whenever an account loads. Listeners (see `listener`) feed it connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use natsd_auth::jwt::{AccountEntry, Trust};
use natsd_auth::Authenticator;
use natsd_proto::encode;
use parking_lot::{Mutex, RwLock};
use thiserror::Error;
use tokio::sync::{watch, Notify};

use crate::account::{Account, AccountConfig, JetStreamAccountLimits, GLOBAL_ACCOUNT};
use crate::client_conn::ClientConn;
use crate::conn::{CloseReason, ConnKind};
use crate::info::ServerInfo;
use crate::internal::InternalClient;
use crate::jetstream::JetStreamMonitor;
use crate::log::Logger;
use crate::options::{Options, COMPATIBLE_VERSION, GIT_COMMIT, NATSD_VERSION};
use crate::stats::MonitorState;

#[derive(Debug, Error)]
pub enum ServerError {
    /// Worded as nats-server words it: `Error listening on port: <host:port>, "<reason>"`.
    #[error(
        "Error listening on port: {addr}, \"listen tcp {addr}: bind: {}\"",
        os_reason(source)
    )]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid subject")]
    InvalidSubject,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// A service that plugs into the server from outside its core (the `$SYS` services,
/// imports, the account resolver; JetStream from its own crate). It is called once the
/// server listens, and for every account as it loads (those present at start included),
/// and works through internal clients.
pub trait Extension: Send + Sync {
    /// The server is up; subscribe what serves the whole server.
    fn started(&self, _server: &Server) -> Result<(), ServerError> {
        Ok(())
    }

    /// `account` joined the server (at start, or on first use for JWT accounts).
    fn account_loaded(&self, _server: &Server, _account: &Arc<Account>) -> Result<(), ServerError> {
        Ok(())
    }
}

/// Accounts in use and the trust they are admitted under: JWT updates, resolver changes
/// and reloads change them together, under the one lock, so none is lost to another.
#[derive(Debug)]
struct Registry {
    /// Accounts by name, the global and system ones included. Accounts from JWTs join
    /// on first use.
    accounts: HashMap<String, Arc<Account>>,
    /// The ways in: the configured ones, with the account JWTs in force in operator mode.
    authenticator: Arc<Authenticator>,
}

/// The server's own keys, made at start: its NKey, whose public key is its ID and which
/// signs auth callout requests, and its curve key, which seals them.
#[derive(Debug)]
pub(crate) struct ServerKeys {
    pub(crate) signing: nkeys::KeyPair,
    pub(crate) xkey: nkeys::XKey,
}

impl ServerKeys {
    fn new() -> Self {
        ServerKeys {
            signing: nkeys::KeyPair::new_server(),
            xkey: nkeys::XKey::new(),
        }
    }

    pub(crate) fn server_id(&self) -> String {
        self.signing.public_key()
    }
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
    registry: RwLock<Registry>,
    /// Where the server's own services and events live.
    system: Option<Arc<Account>>,
    /// The server's own internal client in the system account (the global one without).
    system_client: InternalClient,
    info: RwLock<ServerInfo>,
    pub(crate) keys: ServerKeys,
    pub(crate) monitor: MonitorState,
    /// The TLS acceptor for clients, rebuilt on reload.
    tls: RwLock<Option<crate::tls::Acceptor>>,
    clients: Mutex<HashMap<u64, Arc<ClientConn>>>,
    clients_gone: Notify,
    next_cid: AtomicU64,
    lame_duck: AtomicBool,
    /// Flipped to true to stop accepting.
    stop_accepting: watch::Sender<bool>,
    /// Flipped to true once shutdown has finished.
    stopped: watch::Sender<bool>,
    shutting_down: AtomicBool,
    /// Set once, before the server starts listening.
    extensions: Vec<Arc<dyn Extension>>,
    /// What monitoring asks of JetStream, once JetStream has started.
    pub(crate) jetstream: RwLock<Option<Arc<dyn JetStreamMonitor>>>,
}

impl std::fmt::Debug for dyn JetStreamMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JetStreamMonitor")
    }
}

impl std::fmt::Debug for dyn Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Extension")
    }
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

    /// Puts reloaded settings in force, with the accounts' new limits and the new ways in,
    /// at once; connections pick up new limits at their next read. Account JWTs updated
    /// since the reload's files were read are kept when newer than the reload's.
    pub(crate) fn replace_opts(&self, opts: Arc<Options>) {
        let mut registry = self.registry.write();
        let mut authenticator = opts.authorization.clone();
        if let (Some(new), Some(current)) = (
            authenticator.trust.as_mut(),
            registry.authenticator.trust.as_ref(),
        ) {
            keep_newer_accounts(new, current, opts.resolver_dir().is_some());
        }
        for account in registry.accounts.values() {
            if let Some(config) = account_config(&opts, authenticator.trust.as_ref(), &account.name)
            {
                account.configure(&config);
            }
        }
        registry.authenticator = Arc::new(authenticator);
        *self.opts.write() = opts;
        self.config_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The ways in, as they stand now.
    pub(crate) fn authenticator(&self) -> Arc<Authenticator> {
        Arc::clone(&self.registry.read().authenticator)
    }

    /// Changes the trust (operator mode's account JWTs) under the registry's lock, so
    /// concurrent changes all take effect. `change` sees the trust and the accounts in use;
    /// nothing happens without operator mode.
    pub(crate) fn change_trust<R>(
        &self,
        change: impl FnOnce(&mut Trust, &HashMap<String, Arc<Account>>) -> R,
    ) -> Option<R> {
        let mut registry = self.registry.write();
        let mut authenticator = (*registry.authenticator).clone();
        let trust = authenticator.trust.as_mut()?;
        let result = change(trust, &registry.accounts);
        registry.authenticator = Arc::new(authenticator);
        self.config_generation.fetch_add(1, Ordering::AcqRel);
        Some(result)
    }

    /// The account JWT in force for `key`, in operator mode.
    pub(crate) fn account_jwt(&self, key: &str) -> Option<AccountEntry> {
        self.registry
            .read()
            .authenticator
            .trust
            .as_ref()
            .and_then(|trust| trust.account(key).cloned())
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
    pub(crate) fn register(&self, client: &Arc<ClientConn>) -> bool {
        let mut clients = self.clients.lock();
        if clients.len() >= self.opts().max_connections
            || self.shutting_down.load(Ordering::Acquire)
        {
            return false;
        }
        clients.insert(client.conn.cid, Arc::clone(client));
        true
    }

    /// Removes a closed connection, keeping what monitoring reports about it.
    pub(crate) fn unregister(&self, client: &ClientConn) {
        self.monitor.closed(client, self.opts().max_closed_clients);
        let mut clients = self.clients.lock();
        clients.remove(&client.conn.cid);
        if clients.is_empty() {
            self.clients_gone.notify_waiters();
        }
    }

    pub(crate) fn snapshot_clients(&self) -> Vec<Arc<ClientConn>> {
        self.clients.lock().values().cloned().collect()
    }

    pub(crate) fn client(&self, cid: u64) -> Option<Arc<ClientConn>> {
        self.clients.lock().get(&cid).cloned()
    }

    /// The connected clients bound to `account`.
    pub(crate) fn clients_of(&self, account: &Account) -> Vec<Arc<ClientConn>> {
        self.snapshot_clients()
            .into_iter()
            .filter(|client| client.conn.account_name() == account.name)
            .collect()
    }
}

/// A running server.
#[derive(Debug, Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
    local_addr: SocketAddr,
}

impl ServerInner {
    /// The server's state before it accepts anything: accounts from the settings (the
    /// global one, those configured, the system one), the INFO it greets with, and the
    /// extensions that will plug in.
    pub(crate) fn new(
        opts: Options,
        log: Arc<Logger>,
        local_addr: SocketAddr,
        tls: Option<crate::tls::Acceptor>,
        stop_accepting: watch::Sender<bool>,
        extensions: Vec<Arc<dyn Extension>>,
    ) -> Arc<ServerInner> {
        let keys = ServerKeys::new();
        let server_id = keys.server_id();
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
        let cache = !opts.disable_sublist_cache;
        let global = Arc::new(Account::new(GLOBAL_ACCOUNT, cache));
        let mut accounts = HashMap::new();
        accounts.insert(GLOBAL_ACCOUNT.to_owned(), Arc::clone(&global));
        let trust = opts.authorization.trust.as_ref();
        for config in &opts.accounts {
            let account = if config.name == GLOBAL_ACCOUNT {
                Arc::clone(&global)
            } else {
                Arc::new(Account::new(&config.name, cache))
            };
            if let Some(config) = account_config(&opts, trust, &config.name) {
                account.configure(&config);
            }
            accounts.insert(config.name.clone(), account);
        }
        let system = opts.system_account_name().map(|name| {
            Arc::clone(
                accounts
                    .entry(name.to_owned())
                    .or_insert_with(|| Arc::new(Account::new(name, cache))),
            )
        });
        let system_client = InternalClient::new(
            system
                .as_ref()
                .map_or_else(|| Arc::clone(&global), Arc::clone),
            ConnKind::System,
        );
        let (stopped, _) = watch::channel(false);
        Arc::new(ServerInner {
            global,
            registry: RwLock::new(Registry {
                accounts,
                authenticator: Arc::new(opts.authorization.clone()),
            }),
            system,
            system_client,
            info: RwLock::new(info_for(&opts, &keys, server_name, local_addr.port())),
            keys,
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
            extensions,
            jetstream: RwLock::new(None),
        })
    }

    /// Tells every extension the server is up, then that each account present loaded.
    pub(crate) fn start_extensions(self: &Arc<Self>) -> Result<(), ServerError> {
        let server = Server::from_inner(Arc::clone(self));
        for extension in &self.extensions {
            extension.started(&server)?;
        }
        for account in self.all_accounts() {
            self.account_loaded(&account);
        }
        Ok(())
    }

    fn account_loaded(self: &Arc<Self>, account: &Arc<Account>) {
        let server = Server::from_inner(Arc::clone(self));
        for extension in &self.extensions {
            if let Err(error) = extension.account_loaded(&server, account) {
                self.log
                    .error(format_args!("Account {}: {error}", account.name));
            }
        }
    }
}

impl Server {
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
        format!("nats://{}", self.local_addr)
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
            client.conn.close(CloseReason::ServerShutdown);
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
            if client.takes_async_info() {
                let conn = &client.conn;
                let client_ip = conn.peer.ip().to_string();
                conn.send_now(&self.inner.info_line(conn.cid, &client_ip, None, None));
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
                client.conn.close(CloseReason::ServerShutdown);
                if !step.is_zero() {
                    tokio::time::sleep(step).await;
                }
            }
        }
        self.shutdown().await;
    }

    /// The server's log, for extensions to write to.
    pub fn logger(&self) -> Arc<Logger> {
        Arc::clone(&self.inner.log)
    }

    /// Tells clients that JetStream is served, at `api_level`, in `domain` (if any), and
    /// monitoring where its figures come from.
    pub fn announce_jetstream(
        &self,
        api_level: u64,
        domain: Option<&str>,
        monitor: Arc<dyn JetStreamMonitor>,
    ) {
        {
            let mut info = self.inner.info_mut();
            info.jetstream = true;
            info.api_lvl = api_level;
            info.domain = domain.unwrap_or_default().to_owned();
        }
        *self.inner.jetstream.write() = Some(monitor);
    }

    /// What monitoring asks of JetStream, when it runs.
    pub fn jetstream_monitor(&self) -> Option<Arc<dyn JetStreamMonitor>> {
        self.inner.jetstream.read().clone()
    }

    /// The JetStream limits of the account `name` when JetStream serves it: an account
    /// that enables it, or the global account when it is the only one besides the system
    /// account (nats-server's rule). The system account never has JetStream.
    pub fn jetstream_limits(&self, name: &str) -> Option<JetStreamAccountLimits> {
        let inner = &self.inner;
        let opts = inner.opts();
        opts.jetstream.as_ref()?;
        if opts.system_account_name() == Some(name) {
            return None;
        }
        if let Some(limits) = inner.account_config(name).and_then(|c| c.jetstream) {
            return Some(limits);
        }
        let only_global = opts.authorization.trust.is_none()
            && opts.accounts.iter().all(|a| {
                a.name == GLOBAL_ACCOUNT || opts.system_account_name() == Some(a.name.as_str())
            });
        (only_global && name == GLOBAL_ACCOUNT).then(JetStreamAccountLimits::default)
    }

    /// An internal client of `kind` bound to `account`.
    pub fn internal_client_in(&self, account: &Arc<Account>, kind: ConnKind) -> InternalClient {
        InternalClient::new(Arc::clone(account), kind)
    }

    /// An internal client bound to `account` (the global account for `None`; an account
    /// not yet in use is loaded), for server-side services to subscribe and publish with.
    pub fn internal_client(&self, account: Option<&str>) -> InternalClient {
        InternalClient::new(self.inner.account(account), ConnKind::Account)
    }
}

impl ServerInner {
    /// The account named `name`, or the global account for `None` or an unknown name.
    pub(crate) fn account(self: &Arc<Self>, name: Option<&str>) -> Arc<Account> {
        let Some(name) = name else {
            return Arc::clone(&self.global);
        };
        self.lookup_account(name)
            .unwrap_or_else(|| Arc::clone(&self.global))
    }

    /// The account named `name`, loaded if it is not in use yet; `None` when there is
    /// no such account.
    pub(crate) fn lookup_account(self: &Arc<Self>, name: &str) -> Option<Arc<Account>> {
        if let Some(account) = self.registry.read().accounts.get(name) {
            return Some(Arc::clone(account));
        }
        self.load_account(name)
    }

    /// An account already in use, without loading it.
    pub(crate) fn loaded_account(&self, name: &str) -> Option<Arc<Account>> {
        self.registry.read().accounts.get(name).cloned()
    }

    /// Registers an account on first use, as nats-server does with JWT accounts (and with
    /// accounts a reload added to the config file), and tells the extensions.
    fn load_account(self: &Arc<Self>, name: &str) -> Option<Arc<Account>> {
        let cache = !self.opts().disable_sublist_cache;
        let account = {
            let mut registry = self.registry.write();
            if let Some(existing) = registry.accounts.get(name) {
                return Some(Arc::clone(existing));
            }
            let opts = self.opts();
            let config = account_config(&opts, registry.authenticator.trust.as_ref(), name)?;
            let account = Arc::new(Account::new(name, cache));
            account.configure(&config);
            registry
                .accounts
                .insert(name.to_owned(), Arc::clone(&account));
            account
        };
        self.account_loaded(&account);
        Some(account)
    }

    /// An account's exports, imports and limits, from the config file or its JWT.
    pub(crate) fn account_config(&self, name: &str) -> Option<AccountConfig> {
        let opts = self.opts();
        let registry = self.registry.read();
        account_config(&opts, registry.authenticator.trust.as_ref(), name)
    }

    /// The system account, or the global one when there is none.
    pub(crate) fn system_account(&self) -> Arc<Account> {
        self.system
            .as_ref()
            .map_or_else(|| Arc::clone(&self.global), Arc::clone)
    }

    /// The server's own internal client, in the system account (or the global one).
    pub(crate) fn system_client(&self) -> &InternalClient {
        &self.system_client
    }

    pub(crate) fn has_system_account(&self) -> bool {
        self.system.is_some()
    }

    /// Every account, the global one first.
    pub(crate) fn all_accounts(&self) -> Vec<Arc<Account>> {
        let mut all = vec![Arc::clone(&self.global)];
        all.extend(
            self.registry
                .read()
                .accounts
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
            let stats = account.sublist_stats();
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
}

/// An account's exports, imports and limits: from the config file, or from its JWT in
/// `trust` in operator mode.
pub(crate) fn account_config(
    opts: &Options,
    trust: Option<&Trust>,
    name: &str,
) -> Option<AccountConfig> {
    if let Some(config) = opts.accounts.iter().find(|a| a.name == name) {
        return Some(config.clone());
    }
    let trust = trust?;
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
    keys: &ServerKeys,
    server_name: String,
    port: u16,
) -> ServerInfo {
    ServerInfo {
        server_id: keys.server_id(),
        xkey: keys.xkey.public_key(),
        server_name,
        version: COMPATIBLE_VERSION.to_owned(),
        proto: 1,
        git_commit: GIT_COMMIT.to_owned(),
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

/// An OS error as Go words it: the system's text in lower case, without Rust's
/// `(os error N)`.
fn os_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    text.to_lowercase()
}

/// `host:port`, with an IPv6 host in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Keeps in `new` (a reload's trust) the account JWTs of `current` that are newer than
/// the reload's: updates that arrived after the reload read its files. With a directory
/// resolver, accounts stored since are kept too (their files are the truth; a deleted
/// account is gone from `current` already).
fn keep_newer_accounts(new: &mut Trust, current: &Trust, directory: bool) {
    for entry in current.accounts() {
        let newer = match new.account(&entry.claims.sub) {
            Some(reloaded) => entry.claims.iat > reloaded.claims.iat,
            None => directory,
        };
        if newer {
            new.insert_account(entry.clone());
        }
    }
}
