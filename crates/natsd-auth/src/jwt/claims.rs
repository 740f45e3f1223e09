//! The JSON shapes of nats-io/jwt v2 claims, as far as the server reads them.
//!
//! Numeric limits follow the library's encoding: `-1` is no limit and an absent field is
//! zero, which nats-server enforces as zero (an account JWT without `limits.conn` admits
//! no connection). Tools such as `nsc` write `-1` for every limit they do not set.

use std::collections::HashMap;

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SigningKey {
    Key(String),
    Scoped {
        key: String,
        #[serde(default, deserialize_with = "template")]
        template: Box<UserPermissionLimits>,
    },
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

/// `nats.limits` of an account JWT (the core NATS ones; JetStream's are not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct AccountLimits {
    #[serde(default)]
    pub subs: i64,
    #[serde(default)]
    pub conn: i64,
    #[serde(default)]
    pub leaf: i64,
    #[serde(default)]
    pub payload: i64,
    #[serde(default)]
    pub data: i64,
    #[serde(default)]
    pub disallow_bearer: bool,
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
    /// Only accounts holding an activation token may import: natsd admits none of them.
    #[serde(default)]
    pub token_req: bool,
    /// `Singleton`, `Stream` or `Chunked`.
    #[serde(default)]
    pub response_type: Option<String>,
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserPermissionLimits {
    #[serde(flatten)]
    pub permissions: JwtPermissions,
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
    #[serde(default)]
    pub allowed_connection_types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserNats {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub limits: UserPermissionLimits,
    #[serde(default)]
    pub issuer_account: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A scoped key's template; unlike in a user JWT, an absent numeric limit there is no
/// limit, as nats-io/jwt decodes it.
fn template<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Box<UserPermissionLimits>, D::Error> {
    let mut value = serde_json::Value::deserialize(deserializer)?;
    if let Some(fields) = value.as_object_mut() {
        for limit in ["subs", "data", "payload"] {
            fields.entry(limit).or_insert(serde_json::json!(NO_LIMIT));
        }
    }
    serde_json::from_value(value)
        .map(Box::new)
        .map_err(serde::de::Error::custom)
}

fn cidr_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::List(list) => list,
        Form::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}
