//! The `$JS.API` requests of the account and its streams, answered with nats-server's
//! JSON: `INFO`, `STREAM.CREATE/UPDATE/DELETE/INFO/NAMES/LIST/PURGE`, `STREAM.MSG.GET`,
//! `STREAM.MSG.DELETE` and `DIRECT.GET`. Subjects it does not know get no reply, as from
//! nats-server.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::Engine;
use natsd_proto::headers::HeaderBlock;
use natsd_server::InternalMsg;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::{self, ServerBounds, API_LEVEL};
use crate::errors::ApiError;
use crate::service::{json, write_meta, ApiRequest, JsAccount, Shared, StreamHandle};
use crate::stream::Stream;
use crate::types::{
    now_nanos, time_text, ClusterInfo, Empty, Paged, Reply, Storage, StreamConfig, StreamInfo,
    StreamStateJson,
};

const NAMES_LIMIT: usize = 1024;
const LIST_LIMIT: usize = 256;
const SUBJECTS_LIMIT: usize = 100_000;

const PREFIX: &str = "io.nats.jetstream.api.v1.";

/// Answers API requests one after another, in the order they came.
pub(crate) async fn serve(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<ApiRequest>) {
    while let Some((js, msg)) = rx.recv().await {
        let Some(reply) = msg.reply.clone().filter(|r| !r.is_empty()) else {
            continue;
        };
        let subject = String::from_utf8_lossy(&msg.subject).into_owned();
        let Some(answer) = handle(&shared, &js, &subject, &msg) else {
            continue;
        };
        js.api_total.fetch_add(1, Ordering::Relaxed);
        if answer.failed {
            js.api_errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut flusher = natsd_server::Flusher::default();
        js.client.publish(
            &reply,
            b"",
            answer.header_len,
            answer.payload.into(),
            &mut flusher,
        );
    }
}

/// A reply: JSON, or a stored message with headers for direct gets.
struct Answer {
    payload: Vec<u8>,
    header_len: usize,
    failed: bool,
}

impl Answer {
    fn json<T: Serialize>(kind: &str, body: T) -> Answer {
        Answer {
            payload: json(&Reply {
                kind: &format!("{PREFIX}{kind}"),
                error: None,
                body,
            }),
            header_len: 0,
            failed: false,
        }
    }

    fn error<T: Serialize>(kind: &str, error: &ApiError, body: T) -> Answer {
        Answer {
            payload: json(&Reply {
                kind: &format!("{PREFIX}{kind}"),
                error: Some(error),
                body,
            }),
            header_len: 0,
            failed: true,
        }
    }

    /// A status-only reply (`NATS/1.0 404 Message Not Found`).
    fn status(code: u16, text: &str) -> Answer {
        let block = HeaderBlock::status(code, Some(text)).encode();
        Answer {
            header_len: block.len(),
            payload: block,
            failed: false,
        }
    }
}

/// The API operation named by `subject`, with the domain form mapped to the plain one.
fn operation<'a>(shared: &Shared, subject: &'a str) -> Option<&'a str> {
    if let Some(rest) = subject.strip_prefix("$JS.API.") {
        return Some(rest);
    }
    let domain = shared.options.domain.as_deref()?;
    subject
        .strip_prefix("$JS.")?
        .strip_prefix(domain)?
        .strip_prefix(".API.")
}

fn handle(
    shared: &Arc<Shared>,
    js: &Arc<JsAccount>,
    subject: &str,
    msg: &InternalMsg,
) -> Option<Answer> {
    let op = operation(shared, subject)?;
    let body = msg.body();
    if let Some(level) = required_level(msg) {
        if level > API_LEVEL {
            return Some(Answer::error(
                response_type(op)?,
                &ApiError::required_api_level(),
                Empty {},
            ));
        }
    }
    let (verb, name) = match op.split_once('.') {
        Some(("STREAM", rest)) => match rest.split_once('.') {
            Some(("MSG", rest)) => {
                let (verb, name) = rest.split_once('.')?;
                (
                    if verb == "GET" {
                        "MSG.GET"
                    } else {
                        "MSG.DELETE"
                    },
                    name,
                )
            }
            Some((verb, name)) => (verb, name),
            None => (rest, ""),
        },
        Some(("DIRECT", rest)) => {
            let rest = rest.strip_prefix("GET.")?;
            return direct_get(js, rest, body);
        }
        _ if op == "INFO" => return Some(account_info(shared, js)),
        _ => return None,
    };
    if matches!(verb, "MSG.GET" | "MSG.DELETE") && !name.is_empty() && name.contains('.') {
        return None;
    }
    Some(match verb {
        "CREATE" => create(shared, js, name, body),
        "UPDATE" => update(shared, js, name, body),
        "DELETE" => delete(shared, js, name),
        "INFO" => info(shared, js, name, body),
        "NAMES" => names(js, body),
        "LIST" => list(shared, js, body),
        "PURGE" => purge(js, name, body),
        "MSG.GET" => msg_get(js, name, body),
        "MSG.DELETE" => msg_delete(js, name, body),
        _ => return None,
    })
}

fn response_type(op: &str) -> Option<&'static str> {
    let kind = match op.split('.').take(3).collect::<Vec<_>>().as_slice() {
        ["INFO"] => "account_info_response",
        ["STREAM", "CREATE", ..] => "stream_create_response",
        ["STREAM", "UPDATE", ..] => "stream_update_response",
        ["STREAM", "DELETE", ..] => "stream_delete_response",
        ["STREAM", "INFO", ..] => "stream_info_response",
        ["STREAM", "NAMES", ..] => "stream_names_response",
        ["STREAM", "LIST", ..] => "stream_list_response",
        ["STREAM", "PURGE", ..] => "stream_purge_response",
        ["STREAM", "MSG", "GET"] => "stream_msg_get_response",
        ["STREAM", "MSG", "DELETE"] => "stream_msg_delete_response",
        _ => return None,
    };
    Some(kind)
}

/// `Nats-Required-Api-Level` of a request.
fn required_level(msg: &InternalMsg) -> Option<u64> {
    if msg.header_len == 0 {
        return None;
    }
    let headers = HeaderBlock::decode(msg.headers()).ok()?;
    headers.get("Nats-Required-Api-Level")?.trim().parse().ok()
}

fn is_empty(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// A request body as `T`; an empty body is `T`'s default. A `null` field counts as
/// absent, as Go's decoder takes it.
fn parse<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, ApiError> {
    if is_empty(body) {
        return Ok(T::default());
    }
    let invalid = |e: serde_json::Error| ApiError::invalid_json(&e.to_string());
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    if value.is_null() {
        return Ok(T::default());
    }
    drop_nulls(&mut value);
    serde_json::from_value(value).map_err(invalid)
}

fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            fields.retain(|_, field| !field.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[derive(Serialize)]
struct AccountLimitsJson {
    max_memory: i64,
    max_storage: i64,
    max_streams: i64,
    max_consumers: i64,
    max_ack_pending: i64,
    memory_max_stream_bytes: i64,
    storage_max_stream_bytes: i64,
    max_bytes_required: bool,
}

#[derive(Serialize)]
struct ApiStats {
    level: u64,
    total: u64,
    errors: u64,
}

#[derive(Serialize)]
struct AccountInfo<'a> {
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    streams: usize,
    consumers: usize,
    limits: AccountLimitsJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    api: ApiStats,
}

fn account_info(shared: &Shared, js: &JsAccount) -> Answer {
    let streams: Vec<Arc<StreamHandle>> = js.streams.lock().values().cloned().collect();
    let (mut memory, mut storage) = (0, 0);
    for handle in &streams {
        if let Some(stream) = handle.stream.lock().as_ref() {
            let bytes = stream.store().state().bytes;
            match stream.config.storage {
                Storage::Memory => memory += bytes,
                Storage::File => storage += bytes,
            }
        }
    }
    let l = &js.limits;
    Answer::json(
        "account_info_response",
        AccountInfo {
            memory,
            storage,
            reserved_memory: 0,
            reserved_storage: 0,
            streams: streams.len(),
            consumers: 0,
            limits: AccountLimitsJson {
                max_memory: l.max_memory,
                max_storage: l.max_storage,
                max_streams: l.max_streams,
                max_consumers: l.max_consumers,
                max_ack_pending: l.max_ack_pending,
                memory_max_stream_bytes: l.memory_max_stream_bytes,
                storage_max_stream_bytes: l.storage_max_stream_bytes,
                max_bytes_required: l.max_bytes_required,
            },
            domain: shared.options.domain.as_deref(),
            api: ApiStats {
                level: API_LEVEL,
                total: js.api_total.load(Ordering::Relaxed),
                errors: js.api_errors.load(Ordering::Relaxed),
            },
        },
    )
}

pub(crate) fn state_json(stream: &Stream) -> StreamStateJson {
    let state = stream.store().state();
    StreamStateJson {
        messages: state.msgs,
        bytes: state.bytes,
        // A stream that never held a message starts at 0, as nats-server shows it.
        first_seq: if state.last_seq == 0 {
            0
        } else {
            state.first_seq
        },
        first_ts: time_text(state.first_ts),
        last_seq: state.last_seq,
        last_ts: time_text(state.last_ts),
        num_subjects: state.num_subjects,
        subjects: None,
        num_deleted: state.num_deleted,
        deleted: Vec::new(),
        consumer_count: 0,
    }
}

fn stream_info(shared_leader: Option<String>, stream: &Stream) -> StreamInfo {
    StreamInfo {
        config: config::with_server_metadata(&stream.config),
        created: time_text(stream.created),
        state: state_json(stream),
        cluster: shared_leader.map(|leader| ClusterInfo { leader }),
        ts: time_text(now_nanos()),
    }
}

#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    info: StreamInfo,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    did_create: bool,
}

/// Whether `subjects` overlap those of another stream than `except`.
fn overlaps(js: &JsAccount, subjects: &[String], except: &str) -> bool {
    js.streams.lock().iter().any(|(name, handle)| {
        name != except
            && handle.stream.lock().as_ref().is_some_and(|other| {
                other.config.subjects.iter().any(|theirs| {
                    subjects
                        .iter()
                        .any(|ours| config::subjects_collide(ours, theirs))
                })
            })
    })
}

fn bounds(shared: &Shared) -> ServerBounds {
    ServerBounds {
        duplicate_window: shared.options.limits.duplicate_window,
    }
}

fn create(shared: &Arc<Shared>, js: &Arc<JsAccount>, name: &str, body: &[u8]) -> Answer {
    const KIND: &str = "stream_create_response";
    let fail = |error: ApiError| Answer::error(KIND, &error, Empty {});
    let requested: StreamConfig = match parse(body) {
        Ok(config) => config,
        Err(error) => return fail(error),
    };
    if requested.name != name {
        return fail(ApiError::stream_mismatch());
    }
    if requested.sealed {
        return fail(ApiError::invalid_config(
            "stream configuration for create can not be sealed",
        ));
    }
    if requested.mirror_direct && requested.mirror.is_none() {
        return fail(ApiError::invalid_config(
            "stream has no mirror but does have mirror direct",
        ));
    }
    let cfg = match config::check(&requested, bounds(shared), &js.limits) {
        Ok(cfg) => cfg,
        Err(error) => return fail(error),
    };
    if cfg.num_replicas > 1 {
        return fail(ApiError::replicas_not_supported());
    }
    if let Err(error) = unsupported(&cfg) {
        return fail(error);
    }
    let existing = js.streams.lock().get(name).cloned();
    if let Some(handle) = existing {
        let guard = handle.stream.lock();
        let Some(stream) = guard.as_ref() else {
            return fail(ApiError::stream_not_found());
        };
        if stream.config != cfg {
            return fail(ApiError::stream_name_exists());
        }
        let info = stream_info(None, stream);
        return Answer::json(
            KIND,
            Created {
                info,
                did_create: false,
            },
        );
    }
    if overlaps(js, &cfg.subjects, name) {
        return fail(ApiError::subjects_overlap());
    }
    let count = js.streams.lock().len();
    if js.limits.max_streams > 0 && count as i64 >= js.limits.max_streams {
        return fail(ApiError::maximum_streams());
    }
    if let Err(error) = shared.create_stream(js, cfg) {
        return fail(error);
    }
    let handle = js.streams.lock().get(name).cloned();
    let Some(handle) = handle else {
        return fail(ApiError::stream_not_found());
    };
    let guard = handle.stream.lock();
    let Some(stream) = guard.as_ref() else {
        return fail(ApiError::stream_not_found());
    };
    let info = stream_info(None, stream);
    Answer::json(
        KIND,
        Created {
            info,
            did_create: true,
        },
    )
}

/// Features of later API levels that natsd does not serve yet: refused rather than
/// accepted and ignored.
fn unsupported(cfg: &StreamConfig) -> Result<(), ApiError> {
    let feature = if cfg.allow_msg_ttl || cfg.subject_delete_marker_ttl > 0 {
        "per-message TTLs"
    } else if cfg.allow_msg_counter {
        "message counters"
    } else if cfg.allow_atomic || cfg.allow_batched {
        "batch publishing"
    } else if cfg.allow_msg_schedules {
        "message schedules"
    } else if cfg.mirror.is_some() || !cfg.sources.is_empty() {
        "mirrors and sources"
    } else if cfg.subject_transform.is_some() || cfg.republish.is_some() {
        "subject transforms and republishing"
    } else if cfg.compression != crate::types::Compression::None {
        "compression"
    } else {
        return Ok(());
    };
    Err(ApiError::invalid_config(format!(
        "{feature} are not supported by this server yet"
    )))
}

fn lookup(js: &JsAccount, name: &str) -> Option<Arc<StreamHandle>> {
    js.streams.lock().get(name).cloned()
}

/// Runs `f` on the stream `name` under its lock; the stream is not found when it does not
/// exist or is being deleted.
fn with_stream<R>(
    js: &JsAccount,
    name: &str,
    f: impl FnOnce(&mut Stream) -> R,
) -> Result<R, ApiError> {
    let handle = lookup(js, name).ok_or_else(ApiError::stream_not_found)?;
    let mut guard = handle.stream.lock();
    let stream = guard.as_mut().ok_or_else(ApiError::stream_not_found)?;
    Ok(f(stream))
}

/// A sealed stream refuses every change; `denied` refuses this one with `refusal`.
fn may_change(stream: &Stream, denied: bool, refusal: ApiError) -> Result<(), ApiError> {
    if stream.config.sealed {
        return Err(ApiError::sealed());
    }
    if denied {
        return Err(refusal);
    }
    Ok(())
}

fn update(shared: &Arc<Shared>, js: &Arc<JsAccount>, name: &str, body: &[u8]) -> Answer {
    const KIND: &str = "stream_update_response";
    let fail = |error: ApiError| Answer::error(KIND, &error, Empty {});
    let requested: StreamConfig = match parse(body) {
        Ok(config) => config,
        Err(error) => return fail(error),
    };
    if requested.name != name {
        return fail(ApiError::stream_mismatch());
    }
    let Some(handle) = lookup(js, name) else {
        return fail(ApiError::stream_not_found());
    };
    let cfg = match config::check(&requested, bounds(shared), &js.limits) {
        Ok(cfg) => cfg,
        Err(error) => return fail(error),
    };
    if let Err(error) = unsupported(&cfg) {
        return fail(error);
    }
    {
        let guard = handle.stream.lock();
        let Some(stream) = guard.as_ref() else {
            return fail(ApiError::stream_not_found());
        };
        if let Err(error) = config::check_update(&stream.config, &cfg) {
            return fail(error);
        }
    }
    if overlaps(js, &cfg.subjects, name) {
        return fail(ApiError::subjects_overlap());
    }
    let mut guard = handle.stream.lock();
    let Some(stream) = guard.as_mut() else {
        return fail(ApiError::stream_not_found());
    };
    if stream.config.subjects != cfg.subjects {
        handle.unsubscribe(js);
        if let Err(error) = handle.subscribe(js, &cfg.subjects) {
            return fail(error);
        }
    }
    if let Err(error) = stream.update(cfg, now_nanos()) {
        return fail(ApiError::stream_general(error.to_string()));
    }
    if let Some(dir) = &handle.dir {
        if let Err(error) = write_meta(dir, stream) {
            return fail(ApiError::stream_general(error.to_string()));
        }
    }
    Answer::json(KIND, stream_info(None, stream))
}

#[derive(Serialize)]
struct Success {
    success: bool,
}

fn delete(shared: &Shared, js: &JsAccount, name: &str) -> Answer {
    const KIND: &str = "stream_delete_response";
    if shared.delete_stream(js, name) {
        Answer::json(KIND, Success { success: true })
    } else {
        Answer::error(KIND, &ApiError::stream_not_found(), Empty {})
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InfoRequest {
    #[serde(default)]
    deleted_details: bool,
    #[serde(default)]
    subjects_filter: String,
    #[serde(default)]
    offset: usize,
}

/// The stream leader nats-server names: on one server, the server itself.
fn leader(shared: &Shared) -> Option<String> {
    shared.server().map(|server| server.server_name())
}

fn info(shared: &Shared, js: &JsAccount, name: &str, body: &[u8]) -> Answer {
    const KIND: &str = "stream_info_response";
    let paged_error = |error: ApiError| Answer::error(KIND, &error, Paged::default());
    let request: InfoRequest = match parse(body) {
        Ok(request) => request,
        Err(error) => return paged_error(error),
    };
    let leader = leader(shared);
    with_stream(js, name, |stream| stream_page(leader, stream, &request))
        .unwrap_or_else(paged_error)
}

/// A stream's info with the details and the page of subjects `request` asks for.
fn stream_page(leader: Option<String>, stream: &Stream, request: &InfoRequest) -> Answer {
    const KIND: &str = "stream_info_response";
    let mut info = stream_info(leader, stream);
    let mut paged = Paged::default();
    if request.deleted_details {
        info.state.deleted = stream.deleted();
    }
    if !request.subjects_filter.is_empty() {
        let all = stream.subjects_matching(&request.subjects_filter);
        paged.total = all.len();
        paged.offset = request.offset;
        paged.limit = SUBJECTS_LIMIT;
        let page: BTreeMap<String, u64> = all
            .into_iter()
            .skip(request.offset)
            .take(SUBJECTS_LIMIT)
            .collect();
        info.state.subjects = (!page.is_empty()).then_some(page);
    }
    #[derive(Serialize)]
    struct Body {
        #[serde(flatten)]
        paged: Paged,
        #[serde(flatten)]
        info: StreamInfo,
    }
    Answer::json(KIND, Body { paged, info })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListRequest {
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    subject: String,
}

/// The streams whose subjects `filter` touches (all of them for an empty filter).
fn streams_for(js: &JsAccount, filter: &str) -> Vec<(String, Arc<StreamHandle>)> {
    js.streams
        .lock()
        .iter()
        .filter(|(_, handle)| {
            filter.is_empty()
                || handle.stream.lock().as_ref().is_some_and(|s| {
                    s.config
                        .subjects
                        .iter()
                        .any(|subject| config::subjects_collide(subject, filter))
                })
        })
        .map(|(name, handle)| (name.clone(), Arc::clone(handle)))
        .collect()
}

fn names(js: &JsAccount, body: &[u8]) -> Answer {
    const KIND: &str = "stream_names_response";
    let request: ListRequest = match parse(body) {
        Ok(request) => request,
        Err(error) => return Answer::error(KIND, &error, Paged::default()),
    };
    let all = streams_for(js, &request.subject);
    #[derive(Serialize)]
    struct Body {
        #[serde(flatten)]
        paged: Paged,
        streams: Vec<String>,
    }
    let paged = Paged {
        total: all.len(),
        offset: request.offset,
        limit: NAMES_LIMIT,
    };
    let streams = all
        .into_iter()
        .skip(request.offset)
        .take(NAMES_LIMIT)
        .map(|(name, _)| name)
        .collect();
    Answer::json(KIND, Body { paged, streams })
}

fn list(shared: &Shared, js: &JsAccount, body: &[u8]) -> Answer {
    const KIND: &str = "stream_list_response";
    let request: ListRequest = match parse(body) {
        Ok(request) => request,
        Err(error) => return Answer::error(KIND, &error, Paged::default()),
    };
    let all = streams_for(js, &request.subject);
    #[derive(Serialize)]
    struct Body {
        #[serde(flatten)]
        paged: Paged,
        streams: Vec<StreamInfo>,
    }
    let paged = Paged {
        total: all.len(),
        offset: request.offset,
        limit: LIST_LIMIT,
    };
    let streams = all
        .into_iter()
        .skip(request.offset)
        .take(LIST_LIMIT)
        .filter_map(|(_, handle)| {
            handle
                .stream
                .lock()
                .as_ref()
                .map(|s| stream_info(leader(shared), s))
        })
        .collect();
    Answer::json(KIND, Body { paged, streams })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    keep: u64,
}

fn purge(js: &JsAccount, name: &str, body: &[u8]) -> Answer {
    const KIND: &str = "stream_purge_response";
    let fail = |error: ApiError| Answer::error(KIND, &error, Empty {});
    // A missing stream is reported before a malformed request, as nats-server does.
    if lookup(js, name).is_none() {
        return fail(ApiError::stream_not_found());
    }
    let request: PurgeRequest = match parse(body) {
        Ok(request) => request,
        Err(error) => return fail(error),
    };
    if request.seq > 0 && request.keep > 0 {
        return fail(ApiError::bad_request());
    }
    let purged = with_stream(js, name, |stream| {
        let refusal = ApiError::purge_failed("stream purge not permitted");
        may_change(stream, stream.config.deny_purge, refusal)?;
        stream
            .purge(&request.filter, request.seq, request.keep)
            .and_then(|purged| stream.flush().map(|()| purged))
            .map_err(|error| ApiError::purge_failed(error.to_string()))
    });
    #[derive(Serialize)]
    struct Body {
        success: bool,
        purged: u64,
    }
    match purged.and_then(|purged| purged) {
        Ok(purged) => Answer::json(
            KIND,
            Body {
                success: true,
                purged,
            },
        ),
        Err(error) => fail(error),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GetRequest {
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    last_by_subj: String,
    #[serde(default)]
    next_by_subj: String,
    #[serde(default)]
    batch: u64,
    #[serde(default)]
    max_bytes: u64,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    no_hdr: bool,
    #[serde(default)]
    multi_last: Vec<String>,
    #[serde(default)]
    up_to_seq: u64,
    #[serde(default)]
    up_to_time: Option<String>,
}

impl GetRequest {
    /// nats-server's rule: `seq`, `last_by_subj` and `start_time` exclude each other;
    /// `next_by_subj` goes with `seq` or `start_time`.
    fn conflicts(&self) -> bool {
        let (seq, last, next, time) = (
            self.seq > 0,
            !self.last_by_subj.is_empty(),
            !self.next_by_subj.is_empty(),
            self.start_time.is_some(),
        );
        (seq && last)
            || (!seq && !last && !next && !time)
            || (seq && time)
            || (time && last)
            || (last && next)
    }

    /// The message asked for.
    fn find(&self, stream: &Stream) -> Option<natsd_store::StoredMsg> {
        let store = stream.store();
        if !self.next_by_subj.is_empty() {
            return store.load_next(&self.next_by_subj, self.seq).ok();
        }
        if self.seq > 0 {
            return store.load(self.seq).ok();
        }
        store.load_last(&self.last_by_subj).ok()
    }
}

fn msg_get(js: &JsAccount, name: &str, body: &[u8]) -> Answer {
    const KIND: &str = "stream_msg_get_response";
    let fail = |error: ApiError| Answer::error(KIND, &error, Empty {});
    if is_empty(body) {
        return fail(ApiError::bad_request());
    }
    let request: GetRequest = match parse(body) {
        Ok(request) => request,
        Err(error) => return fail(error),
    };
    if request.batch > 0
        || request.max_bytes > 0
        || request.conflicts()
        || request.start_time.is_some()
    {
        return fail(ApiError::bad_request());
    }
    let found = match with_stream(js, name, |stream| request.find(stream)) {
        Ok(Some(found)) => found,
        Ok(None) => return fail(ApiError::no_message_found()),
        Err(error) => return fail(error),
    };
    #[derive(Serialize)]
    struct Message {
        subject: String,
        seq: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        hdrs: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        time: String,
    }
    #[derive(Serialize)]
    struct Body {
        message: Message,
    }
    let b64 = |bytes: &[u8]| {
        (!bytes.is_empty()).then(|| base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let message = Message {
        hdrs: if request.no_hdr {
            None
        } else {
            b64(&found.headers)
        },
        data: b64(&found.payload),
        time: time_text(found.ts),
        subject: found.subject,
        seq: found.seq,
    };
    Answer::json(KIND, Body { message })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeleteRequest {
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    no_erase: bool,
}

fn msg_delete(js: &JsAccount, name: &str, body: &[u8]) -> Answer {
    const KIND: &str = "stream_msg_delete_response";
    let fail = |error: ApiError| Answer::error(KIND, &error, Empty {});
    if is_empty(body) {
        return fail(ApiError::bad_request());
    }
    let request: DeleteRequest = match parse(body) {
        Ok(request) => request,
        Err(error) => return fail(error),
    };
    // The file store never serves a removed message again; erasing its bytes as well
    // (what `no_erase: false` asks) happens when its block is compacted.
    let _ = request.no_erase;
    let removed = with_stream(js, name, |stream| {
        let refusal = ApiError::msg_delete_failed("message delete not permitted");
        may_change(stream, stream.config.deny_delete, refusal)?;
        stream
            .remove(request.seq)
            .and_then(|removed| stream.flush().map(|()| removed))
            .map_err(|error| ApiError::msg_delete_failed(error.to_string()))
    });
    match removed.and_then(|removed| removed) {
        Ok(true) => Answer::json(KIND, Success { success: true }),
        Ok(false) => Answer::error(
            KIND,
            &ApiError::sequence_not_found(request.seq),
            Success { success: false },
        ),
        Err(error) => fail(error),
    }
}

/// `DIRECT.GET.<stream>` with a JSON request, or `DIRECT.GET.<stream>.<subject>` for the
/// last message of a subject. Streams without `allow_direct` do not answer.
fn direct_get(js: &JsAccount, rest: &str, body: &[u8]) -> Option<Answer> {
    let (name, subject) = match rest.split_once('.') {
        Some((name, subject)) => (name, Some(subject)),
        None => (rest, None),
    };
    let handle = lookup(js, name)?;
    let guard = handle.stream.lock();
    let stream = guard.as_ref()?;
    if !stream.config.allow_direct {
        return None;
    }
    let request = match subject {
        Some(subject) => {
            if !is_empty(body) {
                return Some(Answer::status(408, "Bad Request"));
            }
            GetRequest {
                last_by_subj: subject.to_owned(),
                ..GetRequest::default()
            }
        }
        None => {
            if is_empty(body) {
                return Some(Answer::status(408, "Empty Request"));
            }
            match serde_json::from_slice::<GetRequest>(body) {
                Ok(request) => request,
                Err(_) => return Some(Answer::status(408, "Malformed Request")),
            }
        }
    };
    let batched = request.batch > 0
        || !request.multi_last.is_empty()
        || request.up_to_seq > 0
        || request.up_to_time.is_some();
    if request.conflicts() || batched {
        return Some(Answer::status(408, "Bad Request"));
    }
    let Some(found) = request.find(stream) else {
        return Some(Answer::status(404, "Message Not Found"));
    };
    Some(direct_message(&stream.config.name, &found, request.no_hdr))
}

/// A stored message as a direct get returns it: its headers with the stream's own.
fn direct_message(stream: &str, msg: &natsd_store::StoredMsg, no_hdr: bool) -> Answer {
    let mut headers = if msg.headers.is_empty() || no_hdr {
        HeaderBlock::default()
    } else {
        HeaderBlock::decode(&msg.headers).unwrap_or_default()
    };
    headers = headers
        .insert("Nats-Stream", stream)
        .insert("Nats-Subject", &msg.subject)
        .insert("Nats-Sequence", &msg.seq.to_string())
        .insert("Nats-Time-Stamp", &time_text(msg.ts));
    let mut payload = headers.encode();
    let header_len = payload.len();
    payload.extend_from_slice(&msg.payload);
    Answer {
        payload,
        header_len,
        failed: false,
    }
}
