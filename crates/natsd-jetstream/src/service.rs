//! The accounts JetStream serves and the streams each holds, on disk under
//! `<store_dir>/jetstream/<account>/streams/<stream>/` (`meta.inf`: the configuration and
//! when it was created; `msgs/`: the file store's blocks).
//!
//! A stream's subjects are subscribed by an internal client in its account. What is
//! published there goes to the stream's task over a channel; the task takes all that is
//! waiting, stores it and writes it to the file once; then it sends the acknowledgements,
//! or under `sync_interval: always` hands them to the commit thread (see `commit`). API
//! requests go to one task of their own, in the order they came.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use natsd_server::account::{Account, JetStreamAccountLimits};
use natsd_server::conn::ConnKind;
use natsd_server::options::{JetStreamOptions, SyncPolicy};
use natsd_server::{
    Extension, InternalClient, InternalMsg, InternalSubscription, Server, ServerError,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::commit::{Commit, Committer};
use crate::config::API_LEVEL;
use crate::errors::ApiError;
use crate::stream::{Inbound, SavedDedupe, Store, Stored, Stream};
use crate::types::{now_nanos, PubAckJson, Storage, StreamConfig};

/// Messages a stream's task takes into one write.
const BATCH: usize = 1024;

/// JetStream as a server extension.
pub struct JetStream {
    state: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) server: Mutex<Option<Server>>,
    pub(crate) options: JetStreamOptions,
    /// `<store_dir>/jetstream`.
    pub(crate) root: PathBuf,
    pub(crate) accounts: Mutex<BTreeMap<String, Arc<JsAccount>>>,
    api: mpsc::UnboundedSender<ApiRequest>,
    /// Taken by the API task when the server starts.
    api_rx: Mutex<Option<mpsc::UnboundedReceiver<ApiRequest>>>,
    /// Under `sync_interval: always`.
    committer: Option<Committer>,
}

/// An API request and the account it was made in.
pub(crate) type ApiRequest = (Arc<JsAccount>, InternalMsg);

/// One account's JetStream.
pub(crate) struct JsAccount {
    pub(crate) name: String,
    pub(crate) limits: JetStreamAccountLimits,
    pub(crate) client: InternalClient,
    pub(crate) streams: Mutex<BTreeMap<String, Arc<StreamHandle>>>,
    pub(crate) api_total: AtomicU64,
    pub(crate) api_errors: AtomicU64,
    api_subs: Mutex<Vec<InternalSubscription>>,
}

/// A stream in use: its state, its subscriptions and the way to its task.
pub(crate) struct StreamHandle {
    pub(crate) stream: Mutex<Option<Stream>>,
    subs: Mutex<Vec<InternalSubscription>>,
    inbound: mpsc::UnboundedSender<InternalMsg>,
    pub(crate) dir: Option<PathBuf>,
}

/// `meta.inf`.
#[derive(Serialize, Deserialize)]
struct Meta {
    #[serde(flatten)]
    config: StreamConfig,
    created: i64,
}

impl JetStream {
    /// JetStream with `options`, keeping its data under `store_dir` (the system's
    /// temporary directory when `None`).
    pub fn new(options: JetStreamOptions, store_dir: Option<&Path>) -> JetStream {
        let base = store_dir.map_or_else(|| std::env::temp_dir().join("nats"), Path::to_path_buf);
        let (api, api_rx) = mpsc::unbounded_channel();
        let committer = (options.sync == SyncPolicy::Always).then(Committer::start);
        JetStream {
            state: Arc::new(Shared {
                committer,
                server: Mutex::new(None),
                options,
                root: base.join("jetstream"),
                accounts: Mutex::new(BTreeMap::new()),
                api,
                api_rx: Mutex::new(Some(api_rx)),
            }),
        }
    }

    /// Checks that the store directory can be used, as nats-server does at start.
    pub fn prepare(&self) -> Result<(), String> {
        let root = &self.state.root;
        match std::fs::metadata(root) {
            Err(_) => std::fs::create_dir_all(root)
                .map_err(|e| format!("could not create storage directory - {e}")),
            Ok(meta) if !meta.is_dir() => Err("storage directory is not a directory".into()),
            Ok(_) => {
                let probe = root.join(".natsd_write_test");
                std::fs::write(&probe, b"")
                    .map_err(|_| "storage directory is not writable".to_owned())?;
                let _ = std::fs::remove_file(probe);
                Ok(())
            }
        }
    }

    pub fn store_dir(&self) -> &Path {
        &self.state.root
    }

    /// Closes every stream cleanly (file stores save their indexes), once the server
    /// has stopped.
    pub fn close(&self) {
        self.state.close_all();
    }
}

impl Extension for JetStream {
    fn started(&self, server: &Server) -> Result<(), ServerError> {
        let log = server.logger();
        log.info(format_args!("Starting JetStream"));
        log.info(format_args!("---------------- JETSTREAM ----------------"));
        log.info(format_args!(
            "  Store Directory: \"{}\"",
            self.state.root.display()
        ));
        if let Some(domain) = &self.state.options.domain {
            log.info(format_args!("  Domain:          {domain}"));
        }
        log.info(format_args!("  API Level:       {API_LEVEL}"));
        log.info(format_args!("-------------------------------------------"));
        *self.state.server.lock() = Some(server.clone());
        server.announce_jetstream(
            API_LEVEL,
            self.state.options.domain.as_deref(),
            Arc::new(crate::monitor::Monitor(Arc::clone(&self.state))),
        );
        if let Some(rx) = self.state.api_rx.lock().take() {
            tokio::spawn(crate::api::serve(Arc::clone(&self.state), rx));
            if let SyncPolicy::Every(interval) = self.state.options.sync {
                if !interval.is_zero() {
                    tokio::spawn(crate::commit::sync_every(Arc::clone(&self.state), interval));
                }
            }
        }
        Ok(())
    }

    fn account_loaded(&self, server: &Server, account: &Arc<Account>) -> Result<(), ServerError> {
        let Some(limits) = server.jetstream_limits(&account.name) else {
            return Ok(());
        };
        let client = server.internal_client_in(account, ConnKind::JetStream);
        let js = Arc::new(JsAccount {
            name: account.name.clone(),
            limits,
            client,
            streams: Mutex::new(BTreeMap::new()),
            api_total: AtomicU64::new(0),
            api_errors: AtomicU64::new(0),
            api_subs: Mutex::new(Vec::new()),
        });
        let mut prefixes = vec!["$JS.API.>".to_owned()];
        if let Some(domain) = &self.state.options.domain {
            prefixes.push(format!("$JS.{domain}.API.>"));
        }
        for prefix in prefixes {
            let api = self.state.api.clone();
            let target = Arc::clone(&js);
            let sub = js.client.subscribe(
                &prefix,
                None,
                Arc::new(move |msg, _| {
                    let _ = api.send((Arc::clone(&target), msg));
                }),
            );
            js.api_subs
                .lock()
                .push(sub.map_err(|_| ServerError::InvalidSubject)?);
        }
        self.state
            .accounts
            .lock()
            .insert(account.name.clone(), Arc::clone(&js));
        self.state.restore(&js, server);
        Ok(())
    }
}

impl Shared {
    pub(crate) fn server(&self) -> Option<Server> {
        self.server.lock().clone()
    }

    fn streams_dir(&self, account: &str) -> PathBuf {
        self.root.join(account).join("streams")
    }

    /// Opens the streams an account left on disk.
    fn restore(self: &Arc<Self>, js: &Arc<JsAccount>, server: &Server) {
        let Ok(entries) = std::fs::read_dir(self.streams_dir(&js.name)) else {
            return;
        };
        let log = server.logger();
        for entry in entries.flatten() {
            let dir = entry.path();
            let meta = std::fs::read(dir.join("meta.inf"))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Meta>(&bytes).ok());
            let Some(meta) = meta else {
                log.warn(format_args!(
                    "  Error unmarshalling stream metafile in {:?}",
                    dir.display()
                ));
                continue;
            };
            let name = meta.config.name.clone();
            match Store::open_file(dir.join("msgs")) {
                Ok(store) => {
                    let saved = take_saved_dedupe(&dir);
                    let stream = Stream::new(meta.config, meta.created, store, now_nanos(), saved);
                    let damaged = stream.damaged();
                    if damaged > 0 {
                        log.warn(format_args!(
                            "Stream '{} > {name}' recovered with {damaged} damaged records dropped",
                            js.name
                        ));
                    }
                    let state = stream.store().state();
                    log.info(format_args!(
                        "  Restored {} messages for stream '{} > {name}'",
                        state.msgs, js.name
                    ));
                    if let Err(error) = self.install(js, stream, Some(dir)) {
                        log.error(format_args!("Stream '{} > {name}': {error:?}", js.name));
                    }
                }
                Err(error) => {
                    log.error(format_args!("  Error recreating stream {name:?}: {error}"))
                }
            }
        }
    }

    /// The bytes of memory and of file storage JetStream may use: as configured, else
    /// three quarters of the machine's memory and of the store directory's free space,
    /// as nats-server takes them.
    pub(crate) fn capacity(&self) -> (i64, i64) {
        let memory = self.options.max_memory.unwrap_or_else(|| {
            let total = std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| {
                    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                    line.split_whitespace().nth(1)?.parse::<i64>().ok()
                })
                .unwrap_or(0);
            total * 1024 / 4 * 3
        });
        let storage = self.options.max_store.unwrap_or_else(|| {
            rustix::fs::statvfs(&self.root)
                .map(|fs| (fs.f_bavail.saturating_mul(fs.f_frsize) / 4 * 3) as i64)
                .unwrap_or(0)
        });
        (memory, storage)
    }

    /// What every stream must sync, taken to run off the async threads.
    pub(crate) fn take_syncs(&self) -> Vec<natsd_store::PendingSync> {
        let accounts: Vec<_> = self.accounts.lock().values().cloned().collect();
        let mut syncs = Vec::new();
        for js in accounts {
            let streams: Vec<_> = js.streams.lock().values().cloned().collect();
            for handle in streams {
                if let Some(Ok(sync)) = handle.stream.lock().as_mut().map(Stream::sync_later) {
                    syncs.push(sync);
                }
            }
        }
        syncs
    }

    /// Creates a stream from a checked configuration: on disk for file storage.
    pub(crate) fn create_stream(
        self: &Arc<Self>,
        js: &Arc<JsAccount>,
        config: StreamConfig,
    ) -> Result<(), ApiError> {
        let now = now_nanos();
        let (store, dir) = match config.storage {
            Storage::Memory => (Store::Memory(natsd_store::MemStore::new()), None),
            Storage::File => {
                let dir = self.streams_dir(&js.name).join(&config.name);
                let store = Store::open_file(dir.join("msgs"))
                    .map_err(|e| ApiError::stream_create(e.to_string()))?;
                (store, Some(dir))
            }
        };
        let mut stream = Stream::new(config, now, store, now, None);
        if stream.config.first_seq > 1 {
            stream
                .purge("", stream.config.first_seq, 0)
                .map_err(|e| ApiError::stream_create(e.to_string()))?;
        }
        if let Some(dir) = &dir {
            write_meta(dir, &stream).map_err(|e| ApiError::stream_create(e.to_string()))?;
        }
        self.install(js, stream, dir)
    }

    /// Subscribes the stream's subjects and starts its task.
    fn install(
        self: &Arc<Self>,
        js: &Arc<JsAccount>,
        stream: Stream,
        dir: Option<PathBuf>,
    ) -> Result<(), ApiError> {
        let name = stream.config.name.clone();
        let subjects = stream.config.subjects.clone();
        let (inbound, rx) = mpsc::unbounded_channel();
        let handle = Arc::new(StreamHandle {
            stream: Mutex::new(Some(stream)),
            subs: Mutex::new(Vec::new()),
            inbound,
            dir,
        });
        handle.subscribe(js, &subjects)?;
        js.streams.lock().insert(name, Arc::clone(&handle));
        tokio::spawn(ingest(Arc::clone(self), Arc::clone(js), handle, rx));
        Ok(())
    }

    /// Stops a stream and removes what it keeps on disk.
    pub(crate) fn delete_stream(&self, js: &JsAccount, name: &str) -> bool {
        let Some(handle) = js.streams.lock().remove(name) else {
            return false;
        };
        handle.unsubscribe(js);
        let stream = handle.stream.lock().take();
        drop(stream);
        if let Some(dir) = &handle.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        true
    }

    /// Closes every stream cleanly, saving the file stores' indexes.
    pub(crate) fn close_all(&self) {
        let accounts: Vec<_> = self.accounts.lock().values().cloned().collect();
        for js in accounts {
            let streams: Vec<_> = js.streams.lock().values().cloned().collect();
            for handle in streams {
                let Some(stream) = handle.stream.lock().take() else {
                    continue;
                };
                if let (Ok(saved), Some(dir)) = (stream.close(), &handle.dir) {
                    let _ = write_atomically(dir, DEDUPE, &json(&saved));
                }
            }
        }
    }
}

impl StreamHandle {
    pub(crate) fn subscribe(&self, js: &JsAccount, subjects: &[String]) -> Result<(), ApiError> {
        let mut subs = self.subs.lock();
        for subject in subjects {
            let inbound = self.inbound.clone();
            let sub = js
                .client
                .subscribe(
                    subject,
                    None,
                    Arc::new(move |msg, _| {
                        let _ = inbound.send(msg);
                    }),
                )
                .map_err(|_| ApiError::invalid_config("invalid subject"))?;
            subs.push(sub);
        }
        Ok(())
    }

    pub(crate) fn unsubscribe(&self, js: &JsAccount) {
        for sub in self.subs.lock().drain(..) {
            js.client.unsubscribe(&sub);
        }
    }
}

/// Saves the configuration where a restart finds it.
pub(crate) fn write_meta(dir: &Path, stream: &Stream) -> std::io::Result<()> {
    let meta = Meta {
        config: stream.config.clone(),
        created: stream.created,
    };
    let bytes = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
    write_atomically(dir, "meta.inf", &bytes)
}

/// The de-duplication state a clean close saves in a stream's directory.
const DEDUPE: &str = "dedupe.json";

/// Replaces `dir/name` with `bytes` all at once.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!("{name}.tmp"));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(temp, dir.join(name))
}

/// The de-duplication state the last clean close saved, removed so that it is never
/// taken for a later state of the store.
fn take_saved_dedupe(dir: &Path) -> Option<SavedDedupe> {
    let path = dir.join(DEDUPE);
    let bytes = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    serde_json::from_slice(&bytes).ok()
}

/// A stream's task: takes what was published to it in batches and acknowledges each
/// message once it is in the file (and on disk, under `sync_interval: always`).
async fn ingest(
    shared: Arc<Shared>,
    js: Arc<JsAccount>,
    handle: Arc<StreamHandle>,
    mut rx: mpsc::UnboundedReceiver<InternalMsg>,
) {
    let max_payload = shared
        .server()
        .map_or(1024 * 1024, |s| s.options().max_payload);
    let domain = shared.options.domain.clone();
    let mut batch = Vec::with_capacity(BATCH);
    let mut acks: Vec<(bytes::Bytes, Vec<u8>)> = Vec::new();
    loop {
        let expiry = handle.stream.lock().as_ref().and_then(Stream::next_expiry);
        let received = match expiry {
            Some(at) => {
                let wait = std::time::Duration::from_nanos((at - now_nanos()).max(0) as u64);
                tokio::select! {
                    n = rx.recv_many(&mut batch, BATCH) => n,
                    () = tokio::time::sleep(wait) => {
                        if let Some(stream) = handle.stream.lock().as_mut() {
                            let _ = stream.enforce_limits(None, now_nanos());
                        }
                        continue;
                    }
                }
            }
            None => rx.recv_many(&mut batch, BATCH).await,
        };
        if received == 0 {
            return;
        }
        {
            let mut guard = handle.stream.lock();
            let Some(stream) = guard.as_mut() else {
                return;
            };
            let now = now_nanos();
            for msg in batch.drain(..) {
                let subject = String::from_utf8_lossy(&msg.subject);
                let inbound = Inbound {
                    subject: &subject,
                    headers: msg.headers(),
                    payload: msg.body(),
                    max_payload,
                };
                let result = stream.accept(inbound, now);
                let Some(reply) = msg.reply.filter(|r| !r.is_empty()) else {
                    continue;
                };
                if stream.config.no_ack {
                    continue;
                }
                acks.push((
                    reply,
                    pub_ack(&stream.config.name, domain.as_deref(), result),
                ));
            }
            let written = match &shared.committer {
                Some(committer) => stream.sync_later().map(|sync| {
                    committer.submit(Commit {
                        sync,
                        client: js.client.clone(),
                        acks: std::mem::take(&mut acks),
                        stream: stream.config.name.clone(),
                    });
                }),
                None => stream.flush(),
            };
            if let Err(error) = written {
                // Nothing unwritten is acknowledged.
                let failed = ApiError::store_failed(error.to_string());
                for (_, ack) in &mut acks {
                    *ack = pub_ack(&stream.config.name, domain.as_deref(), Err(failed.clone()));
                }
            }
        }
        for (reply, ack) in acks.drain(..) {
            js.client.send(&reply, b"", ack);
        }
    }
}

/// The PubAck JSON for one message.
pub(crate) fn pub_ack(
    stream: &str,
    domain: Option<&str>,
    result: Result<Stored, ApiError>,
) -> Vec<u8> {
    match result {
        Ok(Stored::At(seq)) => json(&PubAckJson {
            error: None,
            stream,
            seq,
            domain,
        }),
        Ok(Stored::Duplicate(seq)) => {
            // nats-server writes this one by hand, with a space after the colon.
            let mut text = json(&PubAckJson {
                error: None,
                stream,
                seq,
                domain,
            });
            text.pop();
            text.extend_from_slice(b",\"duplicate\": true}");
            text
        }
        Err(error) => json(&PubAckJson {
            error: Some(&error),
            stream,
            seq: 0,
            domain: None,
        }),
    }
}

pub(crate) fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
