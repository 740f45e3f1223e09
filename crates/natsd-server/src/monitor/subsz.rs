//! `/subsz`: the subscription index's figures, and optionally its subscriptions.

use std::time::SystemTime;

use natsd_subject::{is_valid_literal_subject, matches};
use serde::Serialize;

use super::connz::{SubDetail, DEFAULT_LIMIT};
use super::{rfc3339, BadRequest};
use crate::server::Server;
use crate::stats::sub_detail;

#[derive(Debug, Clone, Default)]
pub struct SubszOptions {
    pub subs: bool,
    pub offset: usize,
    /// 0 means nats-server's default of 1024.
    pub limit: usize,
    /// Only subscriptions that a message on this literal subject would reach.
    pub test: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subsz {
    pub server_id: String,
    pub now: String,
    pub num_subscriptions: usize,
    pub num_cache: usize,
    pub num_inserts: u64,
    pub num_removes: u64,
    pub num_matches: u64,
    #[serde(serialize_with = "super::go_float")]
    pub cache_hit_rate: f64,
    pub max_fanout: usize,
    #[serde(serialize_with = "super::go_float")]
    pub avg_fanout: f64,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<SubDetail>,
}

impl Server {
    pub fn subsz(&self, opts: &SubszOptions) -> Result<Subsz, BadRequest> {
        let inner = self.inner();
        if let Some(test) = &opts.test {
            if !is_valid_literal_subject(test.as_bytes()) {
                return Err(BadRequest(format!(
                    "invalid test subject, must be valid publish subject: {test}"
                )));
            }
        }
        let stats = inner.sublist_stats();
        let limit = if opts.limit == 0 {
            DEFAULT_LIMIT
        } else {
            opts.limit
        };
        let mut listed = Vec::new();
        if opts.subs {
            for client in inner.snapshot_clients() {
                let account = client.conn.account_name();
                for sub in client.subs.lock().values() {
                    let reached = opts
                        .test
                        .as_ref()
                        .is_none_or(|test| matches(&sub.subject, test.as_bytes()));
                    if reached {
                        listed.push(sub_detail(sub, client.conn.cid, Some(&account)));
                    }
                }
            }
            listed.sort_by(|a, b| (a.cid, &a.subject).cmp(&(b.cid, &b.subject)));
        }
        let total = listed.len();
        Ok(Subsz {
            server_id: inner.server_id(),
            now: rfc3339(SystemTime::now()),
            num_subscriptions: stats.subscriptions,
            num_cache: stats.cached_results,
            num_inserts: stats.inserts,
            num_removes: stats.removes,
            num_matches: stats.matches,
            cache_hit_rate: stats.cache_hit_rate,
            max_fanout: stats.max_fanout,
            avg_fanout: stats.avg_fanout,
            total,
            offset: opts.offset,
            limit,
            subscriptions_list: listed.into_iter().skip(opts.offset).take(limit).collect(),
        })
    }
}
