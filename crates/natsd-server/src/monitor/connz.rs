//! `/connz`: open and recently closed client connections, paged and sorted.

use std::time::SystemTime;

use serde::Serialize;

use super::{rfc3339, BadRequest};
use crate::server::Server;
use crate::stats::conn_info;
pub use crate::stats::{ConnInfo, SubDetail, SubsDetail};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnState {
    #[default]
    Open,
    Closed,
    All,
}

#[derive(Debug, Clone, Default)]
pub struct ConnzOptions {
    pub sort: Option<String>,
    pub auth: bool,
    pub subs: SubsDetail,
    pub offset: usize,
    /// 0 means nats-server's default of 1024.
    pub limit: usize,
    pub cid: Option<u64>,
    pub state: ConnState,
    pub user: Option<String>,
    pub account: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Connz {
    pub server_id: String,
    pub now: String,
    pub num_connections: usize,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub connections: Vec<ConnInfo>,
}

/// Strips a closed connection's kept details down to what the request asked for.
fn trim(mut info: ConnInfo, opts: &ConnzOptions) -> ConnInfo {
    match opts.subs {
        SubsDetail::None => info.subscriptions_list_detail.clear(),
        SubsDetail::List => {
            info.subscriptions_list = info
                .subscriptions_list_detail
                .drain(..)
                .map(|d| d.subject)
                .collect();
        }
        SubsDetail::Detail => {}
    }
    if !opts.auth {
        info.authorized_user = None;
        info.name_tag = None;
    }
    info
}

fn sorter(
    key: &str,
    state: ConnState,
) -> Result<fn(&ConnInfo, &ConnInfo) -> std::cmp::Ordering, BadRequest> {
    Ok(match key {
        "cid" => |a, b| a.cid.cmp(&b.cid),
        "start" => |a, b| a.sort.start.cmp(&b.sort.start),
        "subs" => |a, b| b.subscriptions.cmp(&a.subscriptions),
        "pending" => |a, b| b.pending_bytes.cmp(&a.pending_bytes),
        "msgs_to" => |a, b| b.out_msgs.cmp(&a.out_msgs),
        "msgs_from" => |a, b| b.in_msgs.cmp(&a.in_msgs),
        "bytes_to" => |a, b| b.out_bytes.cmp(&a.out_bytes),
        "bytes_from" => |a, b| b.in_bytes.cmp(&a.in_bytes),
        "last" => |a, b| b.sort.last.cmp(&a.sort.last),
        "idle" => |a, b| a.sort.last.cmp(&b.sort.last),
        "uptime" => |a, b| a.sort.start.cmp(&b.sort.start),
        "rtt" => |a, b| b.sort.rtt.cmp(&a.sort.rtt),
        "stop" | "reason" if state == ConnState::Open => {
            return Err(BadRequest(format!(
                "sort by {key} only valid on closed connections"
            )))
        }
        "stop" => |a, b| b.sort.stop.cmp(&a.sort.stop),
        "reason" => |a, b| a.reason.cmp(&b.reason),
        _ => return Err(BadRequest(format!("invalid sorting option: {key}"))),
    })
}

impl Server {
    pub fn connz(&self, opts: &ConnzOptions) -> Result<Connz, BadRequest> {
        let inner = self.inner();
        let now = SystemTime::now();
        let sort = sorter(opts.sort.as_deref().unwrap_or("cid"), opts.state)?;
        // Everything is gathered in full, filtered and paged, then trimmed to what was
        // asked for, the same way for open and closed connections.
        let mut conns: Vec<ConnInfo> = Vec::new();
        if opts.state != ConnState::Closed {
            conns.extend(
                inner
                    .snapshot_clients()
                    .iter()
                    .map(|c| conn_info(c, now, SubsDetail::Detail, true)),
            );
        }
        if opts.state != ConnState::Open {
            conns.extend(inner.monitor.closed_connections());
        }
        conns.retain(|c| {
            opts.cid.is_none_or(|cid| cid == c.cid)
                && opts
                    .user
                    .as_ref()
                    .is_none_or(|user| c.authorized_user.as_ref() == Some(user))
                && opts
                    .account
                    .as_ref()
                    .is_none_or(|acc| c.account_name == *acc)
        });
        conns.sort_by(sort);
        let total = conns.len();
        let limit = if opts.limit == 0 {
            DEFAULT_LIMIT
        } else {
            opts.limit
        };
        let connections: Vec<ConnInfo> = conns
            .into_iter()
            .skip(opts.offset)
            .take(limit)
            .map(|c| trim(c, opts))
            .collect();
        Ok(Connz {
            server_id: inner.server_id(),
            now: rfc3339(now),
            num_connections: connections.len(),
            total,
            offset: opts.offset,
            limit,
            connections,
        })
    }
}
