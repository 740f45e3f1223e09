//! `/varz`: the server's settings and totals.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{rfc3339, uptime};
use crate::options::{COMPATIBLE_VERSION, DEFAULT_AUTH_TIMEOUT, GIT_COMMIT, NATSD_VERSION};
use crate::server::Server;
use crate::stats::Traffic;

#[derive(Debug, Clone, Serialize)]
pub struct Varz {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: u8,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    pub go: String,
    pub host: String,
    pub port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    pub max_connections: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_subscriptions: usize,
    /// Nanoseconds, as Go encodes a duration.
    pub ping_interval: u64,
    pub ping_max: u32,
    pub http_host: String,
    pub http_port: i32,
    pub http_base_path: String,
    pub https_port: i32,
    #[serde(serialize_with = "super::go_float")]
    pub auth_timeout: f64,
    pub max_control_line: usize,
    pub max_payload: usize,
    pub max_pending: usize,
    /// Empty objects: natsd serves no cluster, gateway, leaf node, MQTT, WebSocket or
    /// JetStream listener yet, which nats-server shows the same way.
    pub cluster: Map<String, Value>,
    pub gateway: Map<String, Value>,
    pub leaf: Map<String, Value>,
    pub mqtt: Map<String, Value>,
    pub websocket: Map<String, Value>,
    /// Written by JetStream when it runs; `{}` otherwise.
    #[serde(serialize_with = "empty_object_when_none")]
    pub jetstream: Option<Box<serde_json::value::RawValue>>,
    #[serde(serialize_with = "super::go_float")]
    pub tls_timeout: f64,
    pub write_deadline: u64,
    pub start: String,
    pub now: String,
    pub uptime: String,
    pub mem: u64,
    pub cores: usize,
    pub gomaxprocs: usize,
    #[serde(serialize_with = "super::go_float")]
    pub cpu: f64,
    pub connections: usize,
    pub total_connections: u64,
    pub routes: usize,
    pub remotes: usize,
    pub leafnodes: usize,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub in_client_msgs: u64,
    pub in_client_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub out_client_msgs: u64,
    pub out_client_bytes: u64,
    pub slow_consumers: u64,
    pub stale_connections: u64,
    pub stalled_clients: u64,
    pub subscriptions: usize,
    pub http_req_stats: BTreeMap<String, u64>,
    pub config_load_time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub config_digest: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub feature_flags: Map<String, Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    pub slow_consumer_stats: KindCounts,
    pub stale_connection_stats: KindCounts,
    pub disk_io_wait_stats: DiskWaits,
    /// natsd's own version; nats-server has no such field.
    pub natsd_version: String,
}

/// A count split by connection kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct KindCounts {
    pub clients: u64,
    pub routes: u64,
    pub gateways: u64,
    pub leafs: u64,
}

/// JetStream's disk wait figures; natsd has no JetStream store yet.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DiskWaits {
    pub waiters: u64,
    pub waits: u64,
    pub wait_time: u64,
    pub max_wait_time: u64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn empty_object_when_none<S: serde::Serializer>(
    value: &Option<Box<serde_json::value::RawValue>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(raw) => raw.serialize(serializer),
        None => Map::new().serialize(serializer),
    }
}

impl Server {
    /// Traffic of every connection so far, open and closed.
    pub(crate) fn traffic(&self) -> Traffic {
        let inner = self.inner();
        let mut total = inner.monitor.closed_traffic();
        for client in inner.snapshot_clients() {
            let stats = &client.conn.stats;
            let (out_msgs, out_bytes) = client.conn.out_counts();
            total.in_msgs += stats.in_msgs.load(Ordering::Relaxed);
            total.in_bytes += stats.in_bytes.load(Ordering::Relaxed);
            total.out_msgs += out_msgs;
            total.out_bytes += out_bytes;
        }
        total
    }

    pub fn varz(&self) -> Varz {
        let inner = self.inner();
        let opts = inner.opts();
        let now = SystemTime::now();
        let traffic = self.traffic();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (mem, cpu) = process_usage(inner.monitor.start, now);
        let slow = inner.monitor.slow_consumers.load(Ordering::Relaxed);
        let stale = inner.monitor.stale_connections.load(Ordering::Relaxed);
        Varz {
            server_id: inner.server_id(),
            server_name: inner.server_name(),
            version: COMPATIBLE_VERSION.to_owned(),
            proto: 1,
            git_commit: GIT_COMMIT.to_owned(),
            go: format!("natsd {NATSD_VERSION}"),
            host: opts.host.clone(),
            port: inner.port(),
            auth_required: opts.authorization.is_required(),
            max_connections: opts.max_connections,
            max_subscriptions: opts.max_subscriptions,
            ping_interval: nanos(opts.ping_interval),
            ping_max: opts.ping_max,
            http_host: opts.http_host.clone().unwrap_or_else(|| opts.host.clone()),
            http_port: opts.http_port,
            http_base_path: opts.http_base_path.clone(),
            https_port: opts.https_port,
            auth_timeout: opts
                .auth_timeout
                .unwrap_or(DEFAULT_AUTH_TIMEOUT)
                .as_secs_f64(),
            max_control_line: opts.max_control_line,
            max_payload: opts.max_payload,
            max_pending: opts.max_pending,
            cluster: Map::new(),
            gateway: Map::new(),
            leaf: Map::new(),
            mqtt: Map::new(),
            websocket: Map::new(),
            jetstream: self.jetstream_monitor().map(|js| js.varz()),
            tls_required: opts.tls.is_some() && !opts.allow_non_tls,
            tls_verify: opts
                .tls
                .as_ref()
                .is_some_and(|t| t.verify || t.verify_and_map),
            tls_timeout: opts
                .tls
                .as_ref()
                .map_or(crate::tls::DEFAULT_TLS_TIMEOUT, |t| t.timeout)
                .as_secs_f64(),
            write_deadline: nanos(opts.write_deadline),
            start: rfc3339(inner.monitor.start),
            now: rfc3339(now),
            uptime: uptime(now.duration_since(inner.monitor.start).unwrap_or_default()),
            mem,
            cores,
            gomaxprocs: cores,
            cpu,
            connections: inner.snapshot_clients().len(),
            total_connections: inner.total_connections(),
            routes: 0,
            remotes: 0,
            leafnodes: 0,
            in_msgs: traffic.in_msgs,
            in_bytes: traffic.in_bytes,
            in_client_msgs: traffic.in_msgs,
            in_client_bytes: traffic.in_bytes,
            out_msgs: traffic.out_msgs,
            out_bytes: traffic.out_bytes,
            out_client_msgs: traffic.out_msgs,
            out_client_bytes: traffic.out_bytes,
            slow_consumers: slow,
            stale_connections: stale,
            stalled_clients: 0,
            subscriptions: inner.sublist_stats().subscriptions,
            http_req_stats: inner.monitor.http_requests.lock().clone(),
            config_load_time: rfc3339(*inner.monitor.config_load_time.lock()),
            config_digest: opts.config_digest.clone().unwrap_or_default(),
            tags: opts.server_tags.clone(),
            feature_flags: Map::new(),
            system_account: opts.system_account_name().unwrap_or_default().to_owned(),
            slow_consumer_stats: KindCounts {
                clients: slow,
                ..KindCounts::default()
            },
            stale_connection_stats: KindCounts {
                clients: stale,
                ..KindCounts::default()
            },
            disk_io_wait_stats: DiskWaits::default(),
            natsd_version: NATSD_VERSION.to_owned(),
        }
    }
}

/// Resident memory in bytes and the average CPU use since start, in percent of one core,
/// from `/proc/self`; zeros where that is not available.
fn process_usage(start: SystemTime, now: SystemTime) -> (u64, f64) {
    let rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    // utime and stime are fields 14 and 15, counted after the parenthesised command name.
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    // Linux reports CPU time in clock ticks of 1/100 s.
    let cpu_secs = ticks as f64 / 100.0;
    let elapsed = now.duration_since(start).unwrap_or_default().as_secs_f64();
    let cpu = if elapsed > 0.0 {
        (cpu_secs / elapsed * 100.0 * 100.0).round() / 100.0
    } else {
        0.0
    };
    (rss_kb * 1024, cpu)
}
