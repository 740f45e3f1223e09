//! What monitoring records of one connection: the `/connz` row, kept as it was for
//! closed connections.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::client_conn::ClientConn;
use crate::timefmt::{go_duration, rfc3339, uptime};

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
    pub(crate) sort: SortKeys,
    /// For the `acc` filter.
    #[serde(skip)]
    pub(crate) account_name: String,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct SortKeys {
    pub start: SystemTime,
    pub last: u64,
    pub stop: Option<SystemTime>,
    pub rtt: u64,
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
    client: &ClientConn,
    now: SystemTime,
    subs: SubsDetail,
    auth: bool,
) -> ConnInfo {
    let conn = &client.conn;
    let stats = &conn.stats;
    let details = stats.details.lock().clone();
    let account = details.account_name();
    let last = stats.last_activity.load(Ordering::Relaxed);
    let rtt = stats.rtt.load(Ordering::Relaxed);
    let (out_msgs, out_bytes) = conn.out_counts();
    let stop = conn.close_reason().map(|_| now);
    let until = stop.unwrap_or(now);
    let mut info = ConnInfo {
        cid: conn.cid,
        kind: conn.kind.as_str(),
        conn_type: conn.protocol.as_str(),
        ip: conn.peer.ip().to_string(),
        port: conn.peer.port(),
        start: rfc3339(stats.start),
        last_activity: rfc3339(from_nanos(last)),
        stop: stop.map(rfc3339),
        reason: conn.close_reason().map(|r| r.to_string()),
        rtt: go_duration(Duration::from_nanos(rtt)),
        uptime: uptime(until.duration_since(stats.start).unwrap_or_default()),
        idle: uptime(until.duration_since(from_nanos(last)).unwrap_or_default()),
        pending_bytes: conn.pending_bytes(),
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
                .map(|s| sub_detail(s, conn.cid, None))
                .collect();
        }
    }
    info
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
