//! What the server keeps for monitoring beyond what live connections hold: traffic of
//! closed connections, slow consumer and stale counts, the ring of closed connections
//! (`conn_info`, the `/connz` row each is kept as), requests served per path.

mod conn_info;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

pub(crate) use conn_info::{conn_info, sub_detail};
pub use conn_info::{ConnInfo, SubDetail, SubsDetail};

use crate::client_conn::ClientConn;
use crate::conn::CloseReason;

#[derive(Debug)]
pub(crate) struct MonitorState {
    pub start: SystemTime,
    pub config_load_time: Mutex<SystemTime>,
    /// Traffic of connections that have closed; live ones are summed on demand, so the
    /// data path updates no shared counter.
    closed_in_msgs: AtomicU64,
    closed_in_bytes: AtomicU64,
    closed_out_msgs: AtomicU64,
    closed_out_bytes: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub stale_connections: AtomicU64,
    /// The most recently closed connections, newest last.
    closed: Mutex<VecDeque<ConnInfo>>,
    /// Requests served per monitoring path.
    pub http_requests: Mutex<std::collections::BTreeMap<String, u64>>,
}

/// Inbound and outbound traffic, in messages and payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Traffic {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

impl MonitorState {
    pub fn new() -> Self {
        let now = SystemTime::now();
        MonitorState {
            start: now,
            config_load_time: Mutex::new(now),
            closed_in_msgs: AtomicU64::new(0),
            closed_in_bytes: AtomicU64::new(0),
            closed_out_msgs: AtomicU64::new(0),
            closed_out_bytes: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            stale_connections: AtomicU64::new(0),
            closed: Mutex::new(VecDeque::new()),
            http_requests: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Records a connection that is going away.
    pub fn closed(&self, client: &ClientConn, keep: usize) {
        let info = conn_info(client, SystemTime::now(), SubsDetail::Detail, true);
        self.closed_in_msgs
            .fetch_add(info.in_msgs, Ordering::Relaxed);
        self.closed_in_bytes
            .fetch_add(info.in_bytes, Ordering::Relaxed);
        self.closed_out_msgs
            .fetch_add(info.out_msgs, Ordering::Relaxed);
        self.closed_out_bytes
            .fetch_add(info.out_bytes, Ordering::Relaxed);
        match client.conn.close_reason() {
            Some(
                CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline,
            ) => {
                self.slow_consumers.fetch_add(1, Ordering::Relaxed);
            }
            Some(CloseReason::StaleConnection) => {
                self.stale_connections.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if keep == 0 {
            return;
        }
        let mut closed = self.closed.lock();
        while closed.len() >= keep {
            closed.pop_front();
        }
        closed.push_back(info);
    }

    pub fn closed_connections(&self) -> Vec<ConnInfo> {
        self.closed.lock().iter().cloned().collect()
    }

    pub fn closed_traffic(&self) -> Traffic {
        Traffic {
            in_msgs: self.closed_in_msgs.load(Ordering::Relaxed),
            in_bytes: self.closed_in_bytes.load(Ordering::Relaxed),
            out_msgs: self.closed_out_msgs.load(Ordering::Relaxed),
            out_bytes: self.closed_out_bytes.load(Ordering::Relaxed),
        }
    }

    pub fn count_request(&self, path: &str) {
        *self
            .http_requests
            .lock()
            .entry(path.to_owned())
            .or_insert(0) += 1;
    }
}
