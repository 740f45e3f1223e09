//! JetStream's figures for `/jsz`, `/varz` and `/healthz`, in nats-server's JSON.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use natsd_server::jetstream::{
    ApiStats, HealthProblem, HealthzOptions, JetStreamMonitor, JetStreamUsage, JszOptions,
    JszReport,
};
use natsd_server::options::SyncPolicy;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::api::state_json;
use crate::config::API_LEVEL;
use crate::service::{JsAccount, Shared};
use crate::types::{time_text, ClusterInfo, Storage, StreamConfig, StreamStateJson};

/// The monitoring endpoints' view of one JetStream.
pub(crate) struct Monitor(pub(crate) Arc<Shared>);

/// `JetStreamConfig`.
#[derive(Serialize)]
struct ConfigJson<'a> {
    max_memory: i64,
    max_storage: i64,
    store_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sync_interval: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    sync_always: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_tag: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    strict: bool,
}

/// `JSLimitOpts`: each only when set.
#[derive(Serialize)]
struct LimitsJson {
    #[serde(skip_serializing_if = "is_zero")]
    max_request_batch: i64,
    #[serde(skip_serializing_if = "is_zero")]
    max_ack_pending: i64,
    #[serde(skip_serializing_if = "is_zero")]
    max_ha_assets: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_duplicate_window: Option<u64>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One account in `/jsz`'s `account_details`.
#[derive(Serialize)]
struct AccountDetail {
    name: String,
    id: String,
    #[serde(flatten)]
    usage: JetStreamUsage,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_detail: Option<Vec<StreamDetail>>,
}

#[derive(Serialize)]
struct StreamDetail {
    name: String,
    created: String,
    cluster: ClusterInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<StreamConfig>,
    state: StreamStateJson,
}

/// What one account holds.
struct Held {
    memory: u64,
    storage: u64,
    streams: u64,
    messages: u64,
}

fn held(js: &JsAccount) -> Held {
    let mut held = Held {
        memory: 0,
        storage: 0,
        streams: 0,
        messages: 0,
    };
    for handle in js.streams.lock().values() {
        if let Some(stream) = handle.stream.lock().as_ref() {
            let state = stream.store().state();
            match stream.config.storage {
                Storage::Memory => held.memory += state.bytes,
                Storage::File => held.storage += state.bytes,
            }
            held.streams += 1;
            held.messages += state.msgs;
        }
    }
    held
}

/// An account limit as nats-server reports a reservation: unlimited (-1) wraps around.
fn reserved(limit: i64) -> u64 {
    limit as u64
}

impl Monitor {
    fn accounts(&self) -> Vec<Arc<JsAccount>> {
        self.0.accounts.lock().values().cloned().collect()
    }

    fn usage(&self, accounts: &[Arc<JsAccount>]) -> (JetStreamUsage, Held) {
        let mut total = Held {
            memory: 0,
            storage: 0,
            streams: 0,
            messages: 0,
        };
        let mut api = ApiStats {
            level: API_LEVEL,
            ..ApiStats::default()
        };
        for js in accounts {
            let held = held(js);
            total.memory += held.memory;
            total.storage += held.storage;
            total.streams += held.streams;
            total.messages += held.messages;
            api.total += js.api_total.load(Ordering::Relaxed);
            api.errors += js.api_errors.load(Ordering::Relaxed);
        }
        let usage = JetStreamUsage {
            memory: total.memory,
            storage: total.storage,
            accounts: accounts.len() as u64,
            api,
            ..JetStreamUsage::default()
        };
        (usage, total)
    }

    fn config(&self) -> ConfigJson<'_> {
        let options = &self.0.options;
        let (max_memory, max_storage) = self.0.capacity();
        let sync_interval = match options.sync {
            SyncPolicy::Every(interval) if !interval.is_zero() => {
                Some(u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX))
            }
            _ => None,
        };
        ConfigJson {
            max_memory,
            max_storage,
            store_dir: self.0.root.display().to_string(),
            sync_interval,
            sync_always: options.sync == SyncPolicy::Always,
            domain: options.domain.as_deref(),
            unique_tag: options.unique_tag.as_deref(),
            strict: options.strict,
        }
    }

    fn limits(&self) -> LimitsJson {
        let limits = &self.0.options.limits;
        LimitsJson {
            max_request_batch: limits.max_request_batch,
            max_ack_pending: limits.max_ack_pending,
            max_ha_assets: limits.max_ha_assets,
            max_duplicate_window: limits
                .duplicate_window
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    fn account_detail(&self, js: &JsAccount, options: &JszOptions) -> AccountDetail {
        let held = held(js);
        let leader = self.0.server().map(|s| s.server_name()).unwrap_or_default();
        let stream_detail = options.streams.then(|| {
            js.streams
                .lock()
                .values()
                .filter_map(|handle| {
                    let guard = handle.stream.lock();
                    let stream = guard.as_ref()?;
                    Some(StreamDetail {
                        name: stream.config.name.clone(),
                        created: time_text(stream.created),
                        cluster: ClusterInfo {
                            leader: leader.clone(),
                        },
                        config: options.config.then(|| stream.config.clone()),
                        state: state_json(stream),
                    })
                })
                .collect()
        });
        AccountDetail {
            name: js.name.clone(),
            id: js.name.clone(),
            usage: JetStreamUsage {
                memory: held.memory,
                storage: held.storage,
                reserved_memory: reserved(js.limits.max_memory),
                reserved_storage: reserved(js.limits.max_storage),
                accounts: 0,
                ha_assets: 0,
                api: ApiStats {
                    level: 0,
                    total: js.api_total.load(Ordering::Relaxed),
                    errors: js.api_errors.load(Ordering::Relaxed),
                },
            },
            stream_detail,
        }
    }
}

/// `value` written, its fields in order.
fn raw<T: Serialize>(value: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

/// A check that found what `options` name missing, down to `depth` (1 the account, 2 the
/// stream, 3 the consumer).
fn missing(depth: usize, options: &HealthzOptions, error: String) -> HealthProblem {
    let upto = |level: usize, name: &String| {
        if level <= depth {
            name.clone()
        } else {
            String::new()
        }
    };
    HealthProblem {
        kind: ["ACCOUNT", "STREAM", "CONSUMER"][depth.clamp(1, 3) - 1],
        account: upto(1, &options.account),
        stream: upto(2, &options.stream),
        consumer: upto(3, &options.consumer),
        error,
        status: 404,
    }
}

impl JetStreamMonitor for Monitor {
    fn jsz(&self, options: &JszOptions) -> JszReport {
        let accounts = self.accounts();
        let (usage, total) = self.usage(&accounts);
        let chosen: Vec<&Arc<JsAccount>> = if !options.account.is_empty() {
            accounts
                .iter()
                .filter(|js| js.name == options.account)
                .collect()
        } else if options.accounts {
            let mut sorted: Vec<_> = accounts.iter().collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            let offset = usize::try_from(options.offset).unwrap_or(0);
            let limit = usize::try_from(options.limit).unwrap_or(usize::MAX);
            sorted.into_iter().skip(offset).take(limit).collect()
        } else {
            Vec::new()
        };
        JszReport {
            usage,
            config: raw(&self.config()),
            limits: raw(&self.limits()),
            streams: total.streams,
            consumers: 0,
            messages: total.messages,
            bytes: total.memory + total.storage,
            leaders: options.raft.then_some((total.streams, 0)),
            account_details: chosen
                .into_iter()
                .filter_map(|js| raw(&self.account_detail(js, options)))
                .collect(),
            total: accounts.len() as u64,
        }
    }

    fn varz(&self) -> Box<RawValue> {
        #[derive(Serialize)]
        struct Section<'a> {
            config: ConfigJson<'a>,
            stats: JetStreamUsage,
            limits: LimitsJson,
        }
        let accounts = self.accounts();
        let (stats, _) = self.usage(&accounts);
        let section = Section {
            config: self.config(),
            stats,
            limits: self.limits(),
        };
        raw(&section).unwrap_or_default()
    }

    fn health(&self, options: &HealthzOptions) -> Vec<HealthProblem> {
        if options.account.is_empty() {
            return Vec::new();
        }
        let Some(js) = self.0.accounts.lock().get(&options.account).cloned() else {
            let error = format!("JetStream account {:?} not found", options.account);
            return vec![missing(1, options, error)];
        };
        if options.stream.is_empty() {
            return Vec::new();
        }
        if !js.streams.lock().contains_key(&options.stream) {
            let error = format!(
                "JetStream stream {:?} not found on account {:?}",
                options.stream, options.account
            );
            return vec![missing(2, options, error)];
        }
        if options.consumer.is_empty() {
            return Vec::new();
        }
        // No stream has consumers yet.
        let error = format!(
            "JetStream consumer {:?} not found for stream {:?} on account {:?}",
            options.consumer, options.stream, options.account
        );
        vec![missing(3, options, error)]
    }

    fn enabled_for(&self, account: &str) -> bool {
        self.0.accounts.lock().contains_key(account)
    }
}
