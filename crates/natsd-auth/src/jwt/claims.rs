//! The JSON shapes of nats-io/jwt v2 claims, as far as the server reads them.
//!
//! Numeric limits follow the library's encoding: `-1` is no limit and an absent field is
//! zero, which nats-server enforces as zero (an account JWT without `limits.conn` admits
//! no connection). Tools such as `nsc` write `-1` for every limit they do not set.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer};

/// nats-io/jwt's "no limit".
pub const NO_LIMIT: i64 = -1;

#[derive(Debug, Clone, Deserialize)]
pub struct OperatorNats {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub signing_keys: Vec<String>,
    #[serde(default)]
    pub system_account: Option<String>,
}

/// An account signing key: a bare key, or a scoped one whose template replaces the
/// permissions and limits of every user it signs.
#[derive(Debug, Clone, PartialEq)]
pub enum SigningKey {
    Key(String),
    Scoped {
        key: String,
        template: Box<UserPermissionLimits>,
    },
}

/// A scoped key as JSON: `{"kind": "user_scope", "key": ..., "template": {...}}`.
#[derive(Deserialize)]
struct ScopedKey {
    key: String,
    #[serde(default)]
    template: serde_json::Value,
}

impl<'de> Deserialize<'de> for SigningKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if let serde_json::Value::String(key) = value {
            return Ok(SigningKey::Key(key));
        }
        let scoped = ScopedKey::deserialize(&value).map_err(serde::de::Error::custom)?;
        Ok(SigningKey::Scoped {
            key: scoped.key,
            template: Box::new(template(scoped.template).map_err(serde::de::Error::custom)?),
        })
    }
}

impl SigningKey {
    pub fn key(&self) -> &str {
        match self {
            SigningKey::Key(key) | SigningKey::Scoped { key, .. } => key,
        }
    }

    pub fn template(&self) -> Option<&UserPermissionLimits> {
        match self {
            SigningKey::Key(_) => None,
            SigningKey::Scoped { template, .. } => Some(template),
        }
    }
}

/// `nats.limits` of an account JWT: the core NATS ones, then JetStream's (untiered; an
/// account whose memory and disk storage are both 0 has no JetStream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct AccountLimits {
    #[serde(default)]
    pub subs: i64,
    #[serde(default)]
    pub conn: i64,
    #[serde(default)]
    pub payload: i64,
    #[serde(default)]
    pub imports: i64,
    #[serde(default)]
    pub exports: i64,
    /// Whether exports may have wildcards (when `exports` is limited).
    #[serde(default)]
    pub wildcards: bool,
    #[serde(default)]
    pub disallow_bearer: bool,
    #[serde(default)]
    pub mem_storage: i64,
    #[serde(default)]
    pub disk_storage: i64,
    #[serde(default)]
    pub streams: i64,
    #[serde(default)]
    pub consumer: i64,
    #[serde(default)]
    pub max_ack_pending: i64,
    #[serde(default)]
    pub mem_max_stream_bytes: i64,
    #[serde(default)]
    pub disk_max_stream_bytes: i64,
    #[serde(default)]
    pub max_bytes_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareType {
    Stream,
    Service,
}

/// One entry of an account JWT's `exports`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExportClaim {
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: ShareType,
    /// Only accounts holding an activation token (issued by the exporter) may import.
    #[serde(default)]
    pub token_req: bool,
    /// `Singleton`, `Stream` or `Chunked`.
    #[serde(default)]
    pub response_type: Option<String>,
    /// Importing account key (or `*`) -> activations issued at or before this time are
    /// revoked.
    #[serde(default)]
    pub revocations: HashMap<String, i64>,
    /// Services: traced requests go on being traced in the exporting account.
    #[serde(default)]
    pub allow_trace: bool,
}

/// One entry of an account JWT's `imports`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImportClaim {
    pub subject: String,
    /// The exporting account.
    pub account: String,
    #[serde(rename = "type")]
    pub kind: ShareType,
    /// Deprecated: a prefix for streams, the local subject for services.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub local_subject: Option<String>,
    /// The activation JWT for an export that requires one.
    #[serde(default)]
    pub token: Option<String>,
    /// Services: the responder learns everything about the requesting client.
    #[serde(default)]
    pub share: bool,
    /// Streams: traced messages go on being traced in the importing account.
    #[serde(default)]
    pub allow_trace: bool,
}

/// `nats` of an activation JWT: the exporter lets one account import `subject`.
#[derive(Debug, Clone, Deserialize)]
pub struct ActivationNats {
    #[serde(default)]
    pub subject: String,
    /// `stream` or `service`.
    #[serde(default)]
    pub kind: Option<ShareType>,
    /// Set when a signing key of the exporter issued it.
    #[serde(default)]
    pub issuer_account: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountNats {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub signing_keys: Vec<SigningKey>,
    /// User key -> revoked when issued at or before this time; `*` revokes everyone.
    #[serde(default)]
    pub revocations: HashMap<String, i64>,
    #[serde(default)]
    pub limits: AccountLimits,
    #[serde(default)]
    pub exports: Vec<ExportClaim>,
    #[serde(default)]
    pub imports: Vec<ImportClaim>,
    /// Permissions of users whose JWT sets none.
    #[serde(default)]
    pub default_permissions: Option<JwtPermissions>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Auth callout for the account's users.
    #[serde(default)]
    pub authorization: ExternalAuthorization,
    /// Where messages carrying a sampled W3C `traceparent` are traced.
    #[serde(default)]
    pub trace: Option<AccountTrace>,
    /// Subject mappings: each source with its weighted destinations.
    #[serde(default)]
    pub mappings: BTreeMap<String, Vec<WeightedMapping>>,
}

/// One destination of an account's subject mapping.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WeightedMapping {
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub weight: u8,
    #[serde(default)]
    pub cluster: String,
}

impl WeightedMapping {
    /// The weight in percent; a JWT leaves it out for all of the traffic.
    pub fn weight(&self) -> u8 {
        if self.weight == 0 {
            100
        } else {
            self.weight
        }
    }
}

/// An account's message tracing destination and sampling percentage.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountTrace {
    #[serde(default)]
    pub dest: String,
    #[serde(default)]
    pub sampling: i64,
}

/// An account's `authorization`: its users, but for `auth_users`, are decided by the
/// callout service running in it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExternalAuthorization {
    #[serde(default)]
    pub auth_users: Vec<String>,
    /// Accounts the service may place users in besides its own; `*` is any.
    #[serde(default)]
    pub allowed_accounts: Vec<String>,
    #[serde(default)]
    pub xkey: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JwtRule {
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    #[serde(default)]
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JwtResponses {
    #[serde(default)]
    pub max: usize,
    /// Nanoseconds.
    #[serde(default)]
    pub ttl: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JwtPermissions {
    #[serde(default, rename = "pub")]
    pub publish: JwtRule,
    #[serde(default, rename = "sub")]
    pub subscribe: JwtRule,
    #[serde(default)]
    pub resp: Option<JwtResponses>,
}

/// A window of the day in which a user may connect, `HH:MM:SS` to `HH:MM:SS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TimeRange {
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
}

/// What a user JWT, or a scoped signing key's template, grants and restricts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPermissionLimits {
    pub permissions: JwtPermissions,
    pub limits: UserLimits,
}

/// The part of [`UserPermissionLimits`] beside the permissions (one JSON object holds both).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserLimits {
    /// Client addresses allowed, as CIDR blocks; a list or one comma-separated string.
    #[serde(default, deserialize_with = "cidr_list")]
    pub src: Vec<String>,
    #[serde(default)]
    pub times: Vec<TimeRange>,
    #[serde(default)]
    pub times_location: String,
    #[serde(default)]
    pub subs: i64,
    #[serde(default)]
    pub data: i64,
    #[serde(default)]
    pub payload: i64,
    #[serde(default)]
    pub bearer_token: bool,
    /// The user may only connect through a trusted proxy.
    #[serde(default)]
    pub proxy_required: bool,
    #[serde(default)]
    pub allowed_connection_types: Vec<String>,
}

impl<'de> Deserialize<'de> for UserPermissionLimits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        from_object(&value).map_err(serde::de::Error::custom)
    }
}

/// Both halves from one JSON object (what `#[serde(flatten)]` would do, at a fraction of
/// the code it generates).
fn from_object(value: &serde_json::Value) -> Result<UserPermissionLimits, serde_json::Error> {
    Ok(UserPermissionLimits {
        permissions: JwtPermissions::deserialize(value)?,
        limits: UserLimits::deserialize(value)?,
    })
}

#[derive(Debug, Clone)]
pub struct UserNats {
    pub kind: String,
    pub limits: UserPermissionLimits,
    pub issuer_account: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
struct UserHead {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    issuer_account: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl<'de> Deserialize<'de> for UserNats {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let head = UserHead::deserialize(&value).map_err(serde::de::Error::custom)?;
        Ok(UserNats {
            kind: head.kind,
            limits: from_object(&value).map_err(serde::de::Error::custom)?,
            issuer_account: head.issuer_account,
            tags: head.tags,
        })
    }
}

/// A scoped key's template; unlike in a user JWT, an absent numeric limit there is no
/// limit, as nats-io/jwt decodes it.
fn template(mut value: serde_json::Value) -> Result<UserPermissionLimits, serde_json::Error> {
    if value.is_null() {
        value = serde_json::json!({});
    }
    if let Some(fields) = value.as_object_mut() {
        for limit in ["subs", "data", "payload"] {
            fields.entry(limit).or_insert(serde_json::json!(NO_LIMIT));
        }
    }
    from_object(&value)
}

fn cidr_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        other => Vec::<String>::deserialize(other).map_err(serde::de::Error::custom),
    }
}
