//! The remaining endpoints. Routes, gateways, leaf nodes and JetStream are not served by
//! natsd yet, and answer exactly as nats-server does when they are unused.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

use super::rfc3339;
use crate::account::GLOBAL_ACCOUNT;
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

/// `/jsz` with JetStream off.
#[derive(Debug, Clone, Serialize)]
pub struct Jsz {
    pub memory: u64,
    pub storage: u64,
    pub reserved_memory: u64,
    pub reserved_storage: u64,
    pub accounts: u64,
    pub ha_assets: u64,
    pub api: JszApi,
    pub server_id: String,
    pub now: String,
    pub disabled: bool,
    pub config: JszConfig,
    pub streams: u64,
    pub consumers: u64,
    pub messages: u64,
    pub bytes: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct JszApi {
    pub level: u64,
    pub total: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct JszConfig {
    pub max_memory: u64,
    pub max_storage: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthz {
    pub status: String,
    /// The HTTP status the health stands for; the `$SYS` request carries it, the HTTP
    /// endpoint (whose response status says it) does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
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
                jetstream_enabled: false,
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

    pub fn jsz(&self) -> Jsz {
        Jsz {
            memory: 0,
            storage: 0,
            reserved_memory: 0,
            reserved_storage: 0,
            accounts: 0,
            ha_assets: 0,
            api: JszApi::default(),
            server_id: self.server_id(),
            now: Self::now_text(),
            disabled: true,
            config: JszConfig::default(),
            streams: 0,
            consumers: 0,
            messages: 0,
            bytes: 0,
            total: 0,
        }
    }

    /// Healthy while running; the JetStream checks pass trivially with JetStream off, as
    /// in nats-server.
    pub fn healthz(&self) -> Healthz {
        Healthz {
            status: "ok".to_owned(),
            status_code: None,
        }
    }
}
