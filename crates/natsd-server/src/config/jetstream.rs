//! `jetstream` at the top level (`enabled`, `disabled`, a boolean or a block) and in an
//! account, read as nats-server reads them and worded as it words their errors.

use natsd_conf::{Entry, Kind, Value};

use super::{issue, unknown, ConfigIssue, ConfigReport};
use crate::account_config::JetStreamAccountLimits;
use crate::options::{Cipher, Encryption, JetStreamServerLimits, Options, SyncPolicy};

/// Keys of the top-level block that are accepted and have no effect on one server yet.
const ACCEPTED_KEYS: &[&str] = &[
    "extension_hint",
    "tpm",
    "max_outstanding_catchup",
    "max_buffered_size",
    "max_buffered_msgs",
    "request_queue_limit",
    "info_queue_limit",
    "meta_compact",
    "meta_compact_size",
    "meta_compact_sync",
    "max_concurrent_io",
    "max_catchup",
    "max_ack_pending",
];

/// What `enabled`/`disabled` (as a string) says, if it is one of them.
fn switch(value: &Value) -> Result<Option<bool>, ConfigIssue> {
    match &value.kind {
        Kind::Bool(on) => Ok(Some(*on)),
        Kind::String(text) => match text.to_ascii_lowercase().as_str() {
            "enabled" | "enable" => Ok(Some(true)),
            "disabled" | "disable" => Ok(Some(false)),
            _ => Err(issue(
                value,
                format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
            )),
        },
        _ => Ok(None),
    }
}

/// A size as an integer (`1GB` is one too) or a string ending in K, M, G or T.
fn storage_size(value: &Value, key: &str) -> Result<i64, ConfigIssue> {
    match &value.kind {
        Kind::Integer(n) => Ok(*n),
        Kind::String(text) if text.is_empty() => Ok(0),
        Kind::String(text) => {
            let (number, suffix) = text.split_at(text.len() - 1);
            let shift = match suffix {
                "K" => 10,
                "M" => 20,
                "G" => 30,
                "T" => 40,
                _ => {
                    return Err(issue(
                        value,
                        format!("{key} sizes defined as strings must end in K, M, G, T"),
                    ))
                }
            };
            number
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(1 << shift))
                .ok_or_else(|| issue(value, format!("{key} invalid size {text:?}")))
        }
        _ => Err(issue(value, format!("{key} must be int64 or string"))),
    }
}

/// The top-level `jetstream` setting.
pub(super) fn server(
    v: &Value,
    opts: &mut Options,
    report: &mut ConfigReport,
) -> Result<(), ConfigIssue> {
    if let Some(on) = switch(v)? {
        opts.jetstream = on.then(|| opts.jetstream.take().unwrap_or_default());
        return Ok(());
    }
    let Kind::Map(map) = &v.kind else {
        return Err(issue(
            v,
            "jetstream expects a map, a boolean or \"enabled\"/\"disabled\"".to_owned(),
        ));
    };
    let mut js = opts.jetstream.take().unwrap_or_default();
    let mut enabled = true;
    let mut key = None;
    let mut cipher = Cipher::default();
    let mut previous_key = None;
    for entry in map.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "strict" => js.strict = value.as_bool()?,
            "store" | "store_dir" | "storedir" => {
                store_dir(value, opts)?;
            }
            "sync" | "sync_interval" => {
                js.sync = match &value.kind {
                    Kind::String(text) if text.eq_ignore_ascii_case("always") => SyncPolicy::Always,
                    _ => SyncPolicy::Every(super::duration(value, &entry.key, report)?),
                }
            }
            "max_memory_store" | "max_mem_store" | "max_mem" => {
                js.max_memory = Some(storage_size(value, "max_mem_store")?);
            }
            "max_file_store" | "max_file" => {
                js.max_store = Some(storage_size(value, "max_file_store")?);
            }
            "domain" => js.domain = Some(value.as_str()?.to_owned()),
            "enable" | "enabled" => enabled = value.as_bool()?,
            "key" | "ek" | "encryption_key" => key = Some(value.as_str()?.to_owned()),
            "prev_key" | "prev_ek" | "prev_encryption_key" => {
                previous_key = Some(value.as_str()?.to_owned());
            }
            "cipher" => {
                cipher = match value.as_str()?.to_ascii_lowercase().as_str() {
                    "chacha" | "chachapoly" => Cipher::ChaCha20Poly1305,
                    "aes" => Cipher::AesGcm,
                    other => return Err(issue(value, format!("Unknown cipher type: {other:?}"))),
                };
            }
            "limits" => js.limits = server_limits(value, report)?,
            "unique_tag" => {
                js.unique_tag = Some(value.as_str()?.trim().to_ascii_lowercase());
            }
            lower if ACCEPTED_KEYS.contains(&lower) => {}
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    js.encryption = key.map(|key| Encryption {
        key,
        cipher,
        previous_key,
    });
    opts.jetstream = enabled.then_some(js);
    Ok(())
}

/// `store_dir`, at the top level or in the block, but only once.
pub(super) fn store_dir(v: &Value, opts: &mut Options) -> Result<(), ConfigIssue> {
    if opts.store_dir.is_some() {
        return Err(issue(v, "Duplicate 'store_dir' configuration".into()));
    }
    opts.store_dir = Some(v.as_str()?.into());
    Ok(())
}

fn server_limits(
    v: &Value,
    report: &mut ConfigReport,
) -> Result<JetStreamServerLimits, ConfigIssue> {
    let mut limits = JetStreamServerLimits::default();
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "max_ack_pending" => limits.max_ack_pending = value.as_int()?,
            "max_ha_assets" => limits.max_ha_assets = value.as_int()?,
            "max_request_batch" => limits.max_request_batch = value.as_int()?,
            "duplicate_window" => {
                limits.duplicate_window = Some(super::duration(value, &entry.key, report)?);
            }
            "batch" => {
                value.as_map()?;
            }
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    Ok(limits)
}

/// An account's `jetstream`: enabled with no limits, disabled, or a block of limits.
pub(super) fn account(field: &Entry) -> Result<Option<JetStreamAccountLimits>, ConfigIssue> {
    let v = &field.value;
    if let Some(on) = switch(v)? {
        return Ok(on.then(JetStreamAccountLimits::default));
    }
    let mut limits = JetStreamAccountLimits::default();
    for entry in v.as_map()?.entries() {
        let value = &entry.value;
        let size = || -> Result<i64, ConfigIssue> {
            value.as_int().map_err(|_| {
                issue(
                    value,
                    format!(
                        "Expected a parseable size for {:?}, got {}",
                        entry.key,
                        value.kind.type_name()
                    ),
                )
            })
        };
        match entry.key.to_ascii_lowercase().as_str() {
            "max_memory" | "max_mem" | "mem" | "memory" => limits.max_memory = size()?,
            "max_store" | "max_file" | "max_disk" | "store" | "disk" => {
                limits.max_storage = size()?;
            }
            "max_streams" | "streams" => limits.max_streams = size()?,
            "max_consumers" | "consumers" => limits.max_consumers = size()?,
            "max_bytes_required" | "max_stream_bytes" | "max_bytes" => {
                limits.max_bytes_required = value.as_bool()?;
            }
            "mem_max_stream_bytes" | "memory_max_stream_bytes" => {
                limits.memory_max_stream_bytes = size()?;
            }
            "disk_max_stream_bytes" | "store_max_stream_bytes" => {
                limits.storage_max_stream_bytes = size()?;
            }
            "max_ack_pending" => limits.max_ack_pending = size()?,
            "cluster_traffic" => match value.as_str()? {
                "system" | "" | "owner" => {}
                other => {
                    return Err(issue(
                        value,
                        format!(
                            "Expected 'system' or 'owner' string value for \"cluster_traffic\", got {other}"
                        ),
                    ))
                }
            },
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    Ok(Some(limits))
}
