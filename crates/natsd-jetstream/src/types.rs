//! The JSON of the stream API, field for field as nats-server writes it: names, order,
//! which fields are left out when empty, durations in nanoseconds, times in RFC 3339.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::errors::ApiError;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    #[default]
    Limits,
    Interest,
    #[serde(rename = "workqueue")]
    WorkQueue,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Discard {
    #[default]
    Old,
    New,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    File,
    Memory,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    S2,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersistMode {
    #[default]
    Default,
    Async,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preferred: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectTransformConfig {
    #[serde(default)]
    pub src: String,
    #[serde(default)]
    pub dest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RePublish {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub src: String,
    #[serde(default)]
    pub dest: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub headers_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalStream {
    #[serde(default)]
    pub api: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deliver: String,
}

/// A mirror or a source of a stream (kept as configured; sourcing itself is not served yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSource {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub opt_start_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_transforms: Vec<SubjectTransformConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalStream>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerLimits {
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub inactive_threshold: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub max_ack_pending: i64,
}

/// `StreamConfig`, with the `pedantic` flag of create and update requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub max_consumers: i64,
    #[serde(default)]
    pub max_msgs: i64,
    #[serde(default)]
    pub max_bytes: i64,
    /// Nanoseconds.
    #[serde(default)]
    pub max_age: i64,
    #[serde(default)]
    pub max_msgs_per_subject: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub max_msg_size: i64,
    #[serde(default)]
    pub discard: Discard,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub num_replicas: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_ack: bool,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub duplicate_window: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<StreamSource>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub first_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransformConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub republish: Option<RePublish>,
    #[serde(default)]
    pub allow_direct: bool,
    #[serde(default)]
    pub mirror_direct: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub discard_new_per_subject: bool,
    #[serde(default)]
    pub sealed: bool,
    #[serde(default)]
    pub deny_delete: bool,
    #[serde(default)]
    pub deny_purge: bool,
    #[serde(default)]
    pub allow_rollup_hdrs: bool,
    #[serde(default)]
    pub consumer_limits: ConsumerLimits,
    #[serde(default)]
    pub allow_msg_ttl: bool,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub subject_delete_marker_ttl: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_msg_counter: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_atomic: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_msg_schedules: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub persist_mode: PersistMode,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_batched: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Requests only: refuse what would otherwise be silently set to a default.
    #[serde(default, skip_serializing)]
    pub pedantic: bool,
}

impl StreamConfig {
    pub fn max_age(&self) -> Option<Duration> {
        (self.max_age > 0).then(|| Duration::from_nanos(self.max_age as u64))
    }

    pub fn duplicate_window(&self) -> Duration {
        Duration::from_nanos(self.duplicate_window.max(0) as u64)
    }
}

/// `StreamState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamStateJson {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub first_ts: String,
    pub last_seq: u64,
    pub last_ts: String,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub num_subjects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjects: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub num_deleted: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<u64>,
    pub consumer_count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterInfo {
    pub leader: String,
}

/// `StreamInfo` as the info and list replies carry it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    pub config: StreamConfig,
    pub created: String,
    pub state: StreamStateJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    pub ts: String,
}

/// A reply: its `type`, the error if there is one, then the body's fields.
#[derive(Serialize)]
pub struct Reply<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a ApiError>,
    #[serde(flatten)]
    pub body: T,
}

/// The paging fields of list replies, which nats-server writes even beside an error.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Paged {
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

/// Nothing more than the type and the error.
#[derive(Serialize)]
pub struct Empty {}

/// `PubAck` with its error (as nats-server writes a failed one: the error first).
#[derive(Debug, Serialize)]
pub struct PubAckJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a ApiError>,
    pub stream: &'a str,
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<&'a str>,
}

/// Unix nanoseconds as Go's RFC 3339 with nanoseconds; 0 is Go's zero time.
pub fn time_text(unix_nanos: i64) -> String {
    if unix_nanos <= 0 {
        return "0001-01-01T00:00:00Z".to_owned();
    }
    let at = UNIX_EPOCH + Duration::from_nanos(unix_nanos as u64);
    natsd_server::timefmt::rfc3339(at)
}

/// Now, in Unix nanoseconds.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
