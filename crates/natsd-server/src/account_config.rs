//! What an account is made of, as configured or as its JWT describes it: limits, exports
//! and imports, message tracing and subject mappings. Data only; the running account is in
//! `account`.

use natsd_auth::jwt::{self, AccountNats, Claims, ImportClaim, ShareType, Trust};
use natsd_subject::{MapDest, Mappings};

/// The account of clients that name none, and of every client when no accounts are
/// configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// `limits {}` of an account; `None` is no limit beyond the server's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountLimits {
    pub max_connections: Option<usize>,
    /// Per connection, as nats-server applies it.
    pub max_subscriptions: Option<usize>,
    pub max_payload: Option<usize>,
}

/// What an export offers or an import takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareKind {
    Stream,
    Service,
}

/// How many responses a service request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    /// One response ends the request.
    #[default]
    Singleton,
    /// Any number of responses, until the request expires.
    Stream,
    /// Like a stream: one response sent in several parts.
    Chunked,
}

/// An `exports` entry: a subject (wildcards allowed) for the listed accounts, or for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub kind: ShareKind,
    pub subject: String,
    /// `None` is public.
    pub accounts: Option<Vec<String>>,
    /// For services.
    pub response: ResponseType,
    /// A JWT export with `token_req`: only imports with a valid activation token match.
    pub token_required: bool,
    /// Services: traced requests go on being traced in this account.
    pub allow_trace: bool,
}

/// An `imports` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub kind: ShareKind,
    /// The exporting account.
    pub account: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// Streams: where messages land in this account instead of `subject`. Services: the
    /// subject this account's clients send requests to.
    pub to: Option<String>,
    /// Streams: a prefix put in front of the subject.
    pub prefix: Option<String>,
    /// A JWT import whose activation token the exporter's `token_req` export accepts.
    pub activated: bool,
    /// Services: requests carry everything about the requesting client in their
    /// `Nats-Request-Info` header, not only its account and round-trip time.
    pub share: bool,
    /// Streams: traced messages go on being traced in this account.
    pub allow_trace: bool,
}

/// One configured account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountConfig {
    pub name: String,
    pub exports: Vec<Export>,
    pub imports: Vec<Import>,
    pub limits: AccountLimits,
    /// Where messages carrying a sampled W3C `traceparent` are traced.
    pub msg_trace: Option<MsgTraceConfig>,
    /// Subject mappings, each source with its destinations, in the order given.
    pub mappings: Vec<(String, Vec<MapDest>)>,
    /// JetStream for the account, with its limits; `None` when it has none.
    pub jetstream: Option<JetStreamAccountLimits>,
}

/// An account's `msg_trace { dest, sampling }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgTraceConfig {
    pub dest: String,
    /// The percentage of such messages traced, 1 to 100.
    pub sampling: u8,
}

impl AccountConfig {
    /// The account's mappings, ready to select from. Those that cannot be made are left
    /// out, as nats-server leaves out a JWT's (a config file's were refused at load).
    pub fn subject_mappings(&self) -> Mappings {
        let mut mappings = Mappings::default();
        for (source, destinations) in &self.mappings {
            let _ = mappings.add(source, destinations);
        }
        mappings
    }

    /// The export that lets `importer` take `import`, if any.
    pub fn export_for(&self, import: &Import, importer: &str) -> Option<&Export> {
        self.exports.iter().find(|export| {
            export.kind == import.kind
                && natsd_subject::matches(export.subject.as_bytes(), import.subject.as_bytes())
                && if export.token_required {
                    import.activated
                } else {
                    export
                        .accounts
                        .as_ref()
                        .is_none_or(|names| names.iter().any(|n| n == importer))
                }
        })
    }
}

impl AccountConfig {
    /// An account as its JWT describes it; `trust` holds the other accounts' JWTs, which
    /// activation tokens of its imports are checked against at `now` (Unix seconds).
    ///
    /// In a JWT a stream import's `to` is a prefix and `local_subject` the subject it lands
    /// on; a service import's `subject` is the local side when `to` is used, and the
    /// exporter's side when `local_subject` is.
    pub fn from_jwt(claims: &Claims<AccountNats>, trust: &Trust, now: i64) -> AccountConfig {
        let nats = &claims.nats;
        let exports = nats
            .exports
            .iter()
            .map(|export| Export {
                kind: share_kind(&export.kind),
                subject: export.subject.clone(),
                accounts: None,
                response: match export.response_type.as_deref() {
                    Some("Stream") => ResponseType::Stream,
                    Some("Chunked") => ResponseType::Chunked,
                    _ => ResponseType::Singleton,
                },
                token_required: export.token_req,
                allow_trace: export.allow_trace && export.kind == ShareType::Service,
            })
            .collect();
        let imports = nats
            .imports
            .iter()
            .map(|import| {
                let local = import.local_subject.clone().filter(|s| !s.is_empty());
                let to = import.to.clone().filter(|s| !s.is_empty());
                let remote = import.subject.clone();
                // (subject in the exporter, local subject, prefix)
                let (subject, local, prefix) = match (&import.kind, local) {
                    (_, Some(local)) => (remote, Some(local), None),
                    (ShareType::Stream, None) => (remote, None, to),
                    (ShareType::Service, None) => {
                        (to.unwrap_or_else(|| remote.clone()), Some(remote), None)
                    }
                };
                let activated = import.token.as_deref().is_some_and(|token| {
                    activation_accepted(trust, &claims.sub, import, token, &subject, now)
                });
                Import {
                    kind: share_kind(&import.kind),
                    account: import.account.clone(),
                    subject,
                    to: local,
                    prefix,
                    activated,
                    share: import.share,
                    allow_trace: import.allow_trace && import.kind == ShareType::Stream,
                }
            })
            .collect();
        let limits = &nats.limits;
        AccountConfig {
            name: claims.sub.clone(),
            exports,
            imports,
            limits: AccountLimits {
                max_connections: jwt::limit(limits.conn),
                max_subscriptions: jwt::limit(limits.subs),
                max_payload: jwt::limit(limits.payload),
            },
            msg_trace: nats.trace.as_ref().and_then(|trace| {
                (!trace.dest.is_empty()).then(|| MsgTraceConfig {
                    dest: trace.dest.clone(),
                    sampling: if (1..=100).contains(&trace.sampling) {
                        trace.sampling as u8
                    } else {
                        100
                    },
                })
            }),
            jetstream: (limits.mem_storage != 0 || limits.disk_storage != 0).then(|| {
                let unlimited_if_zero = |n: i64| if n == 0 { -1 } else { n };
                JetStreamAccountLimits {
                    max_memory: limits.mem_storage,
                    max_storage: limits.disk_storage,
                    max_streams: unlimited_if_zero(limits.streams),
                    max_consumers: unlimited_if_zero(limits.consumer),
                    max_ack_pending: unlimited_if_zero(limits.max_ack_pending),
                    memory_max_stream_bytes: unlimited_if_zero(limits.mem_max_stream_bytes),
                    storage_max_stream_bytes: unlimited_if_zero(limits.disk_max_stream_bytes),
                    max_bytes_required: limits.max_bytes_required,
                }
            }),
            mappings: nats
                .mappings
                .iter()
                .map(|(source, destinations)| {
                    let destinations = destinations
                        .iter()
                        .map(|d| MapDest {
                            subject: d.subject.clone(),
                            weight: d.weight(),
                            cluster: d.cluster.clone(),
                        })
                        .collect();
                    (source.clone(), destinations)
                })
                .collect(),
        }
    }
}

/// Whether one of the exporter's `token_req` exports accepts the import's activation.
fn activation_accepted(
    trust: &Trust,
    importer: &str,
    import: &ImportClaim,
    token: &str,
    subject: &str,
    now: i64,
) -> bool {
    let Some(exporter) = trust.account(&import.account) else {
        return false;
    };
    exporter.claims.nats.exports.iter().any(|export| {
        export.token_req
            && export.kind == import.kind
            && natsd_subject::matches(export.subject.as_bytes(), subject.as_bytes())
            && jwt::verify_activation(
                token,
                &exporter.claims,
                export,
                importer,
                &import.kind,
                subject,
                now,
            )
            .is_ok()
    })
}

fn share_kind(kind: &ShareType) -> ShareKind {
    match kind {
        ShareType::Stream => ShareKind::Stream,
        ShareType::Service => ShareKind::Service,
    }
}

/// An account's JetStream limits (`jetstream {}` in an account, or its JWT); -1 is no
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JetStreamAccountLimits {
    pub max_memory: i64,
    pub max_storage: i64,
    pub max_streams: i64,
    pub max_consumers: i64,
    pub max_ack_pending: i64,
    pub memory_max_stream_bytes: i64,
    pub storage_max_stream_bytes: i64,
    pub max_bytes_required: bool,
}

impl Default for JetStreamAccountLimits {
    fn default() -> Self {
        JetStreamAccountLimits {
            max_memory: -1,
            max_storage: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            memory_max_stream_bytes: -1,
            storage_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}
