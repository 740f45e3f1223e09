//! `/connz`: open and recently closed client connections, paged and sorted.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{go_duration, rfc3339, uptime, BadRequest};
use crate::account::GLOBAL_ACCOUNT;
use crate::outbound::ClientShared;
use crate::server::Server;

/// How much of each connection's subscriptions to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubsDetail {
    #[default]
    None,
    /// `subs=1`: the subjects.
    List,
    /// `subs=detail`: subject, queue, sid and counts.
    Detail,
}

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

#[derive(Debug, Clone, Serialize)]
pub struct SubDetail {
    /// Listed by `/subsz`, which spans accounts; `/connz` leaves them out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_tag: Option<String>,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qgroup: Option<String>,
    pub sid: String,
    pub msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub cid: u64,
}

/// One connection as `/connz` shows it, fields in nats-server's order.
#[derive(Debug, Clone, Serialize)]
pub struct ConnInfo {
    pub cid: u64,
    pub kind: &'static str,
    #[serde(rename = "type")]
    pub conn_type: &'static str,
    pub ip: String,
    pub port: u16,
    pub start: String,
    pub last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub rtt: String,
    pub uptime: String,
    pub idle: String,
    pub pending_bytes: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorized_user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list_detail: Vec<SubDetail>,
    /// The account's name tag, with `auth`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_tag: Option<String>,
    /// Sort keys that the JSON shows only as text.
    #[serde(skip)]
    sort: SortKeys,
    /// For the `acc` filter.
    #[serde(skip)]
    account_name: String,
}

#[derive(Debug, Clone, Copy)]
struct SortKeys {
    start: SystemTime,
    last: u64,
    stop: Option<SystemTime>,
    rtt: u64,
}

impl Default for ConnInfo {
    fn default() -> Self {
        ConnInfo {
            cid: 0,
            kind: "Client",
            conn_type: "nats",
            ip: String::new(),
            port: 0,
            start: String::new(),
            last_activity: String::new(),
            stop: None,
            reason: None,
            rtt: String::new(),
            uptime: String::new(),
            idle: String::new(),
            pending_bytes: 0,
            in_msgs: 0,
            out_msgs: 0,
            in_bytes: 0,
            out_bytes: 0,
            subscriptions: 0,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            authorized_user: None,
            name_tag: None,
            subscriptions_list: Vec::new(),
            subscriptions_list_detail: Vec::new(),
            sort: SortKeys {
                start: UNIX_EPOCH,
                last: 0,
                stop: None,
                rtt: 0,
            },
            account_name: String::new(),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn from_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// A connection's figures as of `now`; a closed one also gets its stop time and reason.
pub(crate) fn conn_info(
    client: &ClientShared,
    now: SystemTime,
    subs: SubsDetail,
    auth: bool,
) -> ConnInfo {
    let stats = &client.stats;
    let details = stats.details.lock().clone();
    let account = account_of_details(&details);
    let last = stats.last_activity.load(Ordering::Relaxed);
    let rtt = stats.rtt.load(Ordering::Relaxed);
    let (out_msgs, out_bytes) = client.out_counts();
    let stop = client.close_reason().map(|_| now);
    let until = stop.unwrap_or(now);
    let mut info = ConnInfo {
        cid: client.cid,
        ip: client.peer.ip().to_string(),
        port: client.peer.port(),
        start: rfc3339(stats.start),
        last_activity: rfc3339(from_nanos(last)),
        stop: stop.map(rfc3339),
        reason: client.close_reason().map(|r| r.to_string()),
        rtt: go_duration(Duration::from_nanos(rtt)),
        uptime: uptime(until.duration_since(stats.start).unwrap_or_default()),
        idle: uptime(until.duration_since(from_nanos(last)).unwrap_or_default()),
        pending_bytes: client.pending_bytes(),
        in_msgs: stats.in_msgs.load(Ordering::Relaxed),
        out_msgs,
        in_bytes: stats.in_bytes.load(Ordering::Relaxed),
        out_bytes,
        subscriptions: 0,
        name: details.name,
        lang: details.lang,
        version: details.version,
        authorized_user: details.user.filter(|_| auth),
        name_tag: auth.then(|| account.clone()),
        sort: SortKeys {
            start: stats.start,
            last,
            stop,
            rtt,
        },
        account_name: account,
        ..ConnInfo::default()
    };
    let subs_map = client.subs.lock();
    info.subscriptions = subs_map.len();
    let mut listed: Vec<_> = subs_map.values().cloned().collect();
    drop(subs_map);
    // Sids are usually increasing numbers: list them in that order, as they were made.
    listed.sort_by(|a, b| (a.sid.len(), &a.sid).cmp(&(b.sid.len(), &b.sid)));
    match subs {
        SubsDetail::None => {}
        SubsDetail::List => {
            info.subscriptions_list = listed
                .iter()
                .map(|s| String::from_utf8_lossy(&s.subject).into_owned())
                .collect();
        }
        SubsDetail::Detail => {
            info.subscriptions_list_detail = listed
                .iter()
                .map(|s| sub_detail(s, client.cid, None))
                .collect();
        }
    }
    info
}

/// The account a client is bound to (the global one until it connects).
pub(crate) fn account_of_details(details: &crate::outbound::ConnDetails) -> String {
    if details.account.is_empty() {
        GLOBAL_ACCOUNT.to_owned()
    } else {
        details.account.clone()
    }
}

/// A subscription as monitoring lists it; `account` is given where lists span accounts.
pub(crate) fn sub_detail(
    sub: &crate::subscription::SubRef,
    cid: u64,
    account: Option<&str>,
) -> SubDetail {
    SubDetail {
        account: account.map(str::to_owned),
        account_tag: account.map(str::to_owned),
        subject: String::from_utf8_lossy(&sub.subject).into_owned(),
        qgroup: sub
            .queue
            .as_ref()
            .map(|q| String::from_utf8_lossy(q).into_owned()),
        sid: String::from_utf8_lossy(&sub.sid).into_owned(),
        msgs: sub.delivered(),
        max: sub.max(),
        cid,
    }
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
