//! The remaining endpoints. Routes, gateways and leaf nodes are not served by natsd yet,
//! and answer exactly as nats-server does when they are unused; `/jsz` and `/healthz`
//! take JetStream's part from its [`crate::jetstream::JetStreamMonitor`].

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{rfc3339, BadRequest};
use crate::account::GLOBAL_ACCOUNT;
use crate::jetstream::{HealthProblem, HealthzOptions, JetStreamUsage, JszOptions, JszReport};
use crate::server::Server;

#[derive(Debug, Clone, Serialize)]
pub struct Routez {
    pub server_id: String,
    pub server_name: String,
    pub now: String,
    pub num_routes: usize,
    pub routes: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gatewayz {
    pub server_id: String,
    pub now: String,
    pub outbound_gateways: Map<String, Value>,
    pub inbound_gateways: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Leafz {
    pub server_id: String,
    pub now: String,
    pub leafnodes: usize,
    pub leafs: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Accountz {
    pub server_id: String,
    pub now: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountDetail>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountDetail {
    pub account_name: String,
    pub update_time: String,
    pub expired: bool,
    pub complete: bool,
    pub jetstream_enabled: bool,
    pub leafnode_connections: usize,
    pub client_connections: usize,
    pub subscriptions: usize,
    /// Sources in order, as Go writes a map.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mappings: BTreeMap<String, Vec<MappingDestination>>,
}

/// One destination of a mapping as monitoring shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MappingDestination {
    pub subject: String,
    pub weight: u8,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Accstatz {
    pub server_id: String,
    pub now: String,
    pub account_statz: Vec<AccountStat>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountStat {
    pub acc: String,
    pub name: String,
    pub conns: usize,
    pub leafnodes: usize,
    pub total_conns: usize,
    pub num_subscriptions: usize,
    pub sent: DataStats,
    pub received: DataStats,
    pub slow_consumers: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DataStats {
    pub msgs: u64,
    pub bytes: u64,
    pub gateways: MsgBytes,
    pub routes: MsgBytes,
    pub leafs: MsgBytes,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MsgBytes {
    pub msgs: u64,
    pub bytes: u64,
}

/// `/jsz`: JetStream's figures around the server's id and the time.
#[derive(Debug, Clone, Serialize)]
pub struct Jsz {
    #[serde(flatten)]
    pub usage: JetStreamUsage,
    pub server_id: String,
    pub now: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    pub config: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Box<RawValue>>,
    pub streams: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams_leader: Option<u64>,
    pub consumers: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers_leader: Option<u64>,
    pub messages: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub account_details: Vec<Box<RawValue>>,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthz {
    pub status: String,
    /// The HTTP status the health stands for; the `$SYS` request carries it, the HTTP
    /// endpoint (whose response status says it) does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<HealthProblem>,
}

impl Healthz {
    /// The HTTP status it stands for.
    pub fn code(&self) -> u16 {
        self.status_code.unwrap_or(200)
    }
}

impl Server {
    fn now_text() -> String {
        rfc3339(SystemTime::now())
    }

    pub fn routez(&self) -> Routez {
        Routez {
            server_id: self.server_id(),
            server_name: self.server_name(),
            now: Self::now_text(),
            num_routes: 0,
            routes: Vec::new(),
        }
    }

    pub fn gatewayz(&self) -> Gatewayz {
        Gatewayz {
            server_id: self.server_id(),
            now: Self::now_text(),
            outbound_gateways: Map::new(),
            inbound_gateways: Map::new(),
        }
    }

    pub fn leafz(&self) -> Leafz {
        Leafz {
            server_id: self.server_id(),
            now: Self::now_text(),
            leafnodes: 0,
            leafs: Vec::new(),
        }
    }

    /// All accounts, or the details of `account`.
    pub fn accountz(&self, account: Option<&str>) -> Accountz {
        let inner = self.inner();
        let account_detail = account
            .filter(|a| *a == GLOBAL_ACCOUNT)
            .map(|name| AccountDetail {
                account_name: name.to_owned(),
                update_time: rfc3339(inner.monitor.start),
                expired: false,
                complete: true,
                jetstream_enabled: self
                    .jetstream_monitor()
                    .is_some_and(|js| js.enabled_for(name)),
                leafnode_connections: 0,
                client_connections: inner.snapshot_clients().len(),
                subscriptions: inner.global.sublist_stats().subscriptions,
                mappings: inner
                    .global
                    .mappings()
                    .destinations()
                    .map(|(source, destinations)| {
                        let destinations = destinations
                            .into_iter()
                            .map(|d| MappingDestination {
                                subject: d.subject,
                                weight: d.weight,
                                cluster: d.cluster,
                            })
                            .collect();
                        (source.to_owned(), destinations)
                    })
                    .collect(),
            });
        Accountz {
            server_id: self.server_id(),
            now: Self::now_text(),
            system_account: inner
                .opts()
                .system_account_name()
                .unwrap_or_default()
                .to_owned(),
            accounts: if account.is_none() {
                inner
                    .all_accounts()
                    .iter()
                    .map(|a| a.name.clone())
                    .collect()
            } else {
                Vec::new()
            },
            account_detail,
        }
    }

    /// Per-account traffic; accounts without connections only when `unused` is set.
    pub fn accstatz(&self, unused: bool) -> Accstatz {
        let inner = self.inner();
        let conns = inner.snapshot_clients().len();
        let traffic = self.traffic();
        let mut account_statz = Vec::new();
        if conns > 0 || unused {
            account_statz.push(AccountStat {
                acc: GLOBAL_ACCOUNT.to_owned(),
                name: GLOBAL_ACCOUNT.to_owned(),
                conns,
                leafnodes: 0,
                total_conns: conns,
                num_subscriptions: inner.global.sublist_stats().subscriptions,
                sent: DataStats {
                    msgs: traffic.out_msgs,
                    bytes: traffic.out_bytes,
                    ..DataStats::default()
                },
                received: DataStats {
                    msgs: traffic.in_msgs,
                    bytes: traffic.in_bytes,
                    ..DataStats::default()
                },
                slow_consumers: inner
                    .monitor
                    .slow_consumers
                    .load(std::sync::atomic::Ordering::Relaxed),
            });
        }
        Accstatz {
            server_id: self.server_id(),
            now: Self::now_text(),
            account_statz,
        }
    }

    pub fn jsz(&self, options: &JszOptions) -> Result<Jsz, BadRequest> {
        let options = options.clone().completed();
        let report = match self.jetstream_monitor() {
            Some(monitor) => monitor.jsz(&options),
            // A server that is no leader (as one without JetStream is not) filters itself
            // out when asked for leaders only.
            None if options.leader_only => {
                return Err(BadRequest("filtered response: not leader".into()))
            }
            None => JszReport::default(),
        };
        let disabled = self.jetstream_monitor().is_none();
        let off = || RawValue::from_string(r#"{"max_memory":0,"max_storage":0}"#.to_owned());
        Ok(Jsz {
            usage: report.usage,
            server_id: self.server_id(),
            now: Self::now_text(),
            disabled,
            config: match report.config {
                Some(config) => config,
                None => off().map_err(|e| BadRequest(e.to_string()))?,
            },
            limits: report.limits,
            streams: report.streams,
            streams_leader: report.leaders.map(|(streams, _)| streams),
            consumers: report.consumers,
            consumers_leader: report.leaders.map(|(_, consumers)| consumers),
            messages: report.messages,
            bytes: report.bytes,
            account_details: report.account_details,
            total: report.total,
        })
    }

    /// The server's health, with the JetStream checks `options` ask for, in
    /// nats-server's order: malformed requests, then JetStream only when it is configured.
    pub fn healthz(&self, options: &HealthzOptions) -> Healthz {
        let refusal = if !options.stream.is_empty() && options.account.is_empty() {
            Some("\"account\" must not be empty when checking stream health")
        } else if !options.consumer.is_empty() && options.stream.is_empty() {
            Some("\"stream\" must not be empty when checking consumer health")
        } else {
            None
        };
        let problems = match refusal {
            Some(text) => vec![HealthProblem {
                kind: "BAD_REQUEST",
                account: String::new(),
                stream: String::new(),
                consumer: String::new(),
                error: text.to_owned(),
                status: 400,
            }],
            None if options.js_server_only || self.options().jetstream.is_none() => Vec::new(),
            None => match self.jetstream_monitor() {
                None => vec![HealthProblem {
                    kind: "JETSTREAM",
                    account: String::new(),
                    stream: String::new(),
                    consumer: String::new(),
                    error: "JetStream not enabled (10076)".to_owned(),
                    status: 503,
                }],
                Some(_) if options.js_enabled_only => Vec::new(),
                Some(monitor) => monitor.health(options),
            },
        };
        let Some(first) = problems.first() else {
            return Healthz {
                status: "ok".to_owned(),
                status_code: Some(200),
                error: String::new(),
                errors: Vec::new(),
            };
        };
        let status_code = Some(first.status);
        if options.details {
            return Healthz {
                status: "error".to_owned(),
                status_code,
                error: String::new(),
                errors: problems,
            };
        }
        let status = if first.status == 400 {
            "error"
        } else {
            "unavailable"
        };
        Healthz {
            status: status.to_owned(),
            status_code,
            error: first.error.clone(),
            errors: Vec::new(),
        }
    }
}
