//! A stream's configuration checked and completed as nats-server does before it creates or
//! updates a stream: defaults filled in (refused instead under `pedantic`), limits
//! checked, subjects checked against each other and the server's own namespaces, and the
//! versioning metadata set.

use std::time::Duration;

use natsd_server::account::JetStreamAccountLimits;
use natsd_subject::{is_valid_subject, SubjectTransform};

use crate::errors::ApiError;
use crate::types::{Discard, PersistMode, StreamConfig};

/// Longest stream or consumer name.
pub const MAX_NAME_LEN: usize = 255;
const MAX_DESCRIPTION_LEN: usize = 4 * 1024;
const MAX_METADATA_LEN: usize = 128 * 1024;
pub const MAX_REPLICAS: i64 = 5;
const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
const SHORTEST: Duration = Duration::from_millis(100);

/// The JetStream API level natsd serves: that of nats-server 2.10, since the features
/// later levels bring (per-message TTLs, counters, batches, schedules) are not served yet.
pub const API_LEVEL: u64 = 0;
pub const REQUIRED_LEVEL_KEY: &str = "_nats.req.level";
pub const SERVER_VERSION_KEY: &str = "_nats.ver";
pub const SERVER_LEVEL_KEY: &str = "_nats.level";

/// Stream and consumer names: no `.`, `*`, `>`, path separators or whitespace.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace())
}

/// Whether two subjects (wildcards allowed) can match a common subject.
pub fn subjects_collide(a: &str, b: &str) -> bool {
    let (mut left, mut right) = (a.split('.'), b.split('.'));
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some(">"), _) | (_, Some(">")) => return true,
            (Some(x), Some(y)) => {
                if x != y && x != "*" && y != "*" {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

fn invalid(text: &str) -> ApiError {
    ApiError::invalid_config(text)
}

/// A limit of 0 or below -1 becomes -1 (none), unless `pedantic` refuses it.
fn unlimited_default(value: &mut i64, name: &str, pedantic: bool) -> Result<(), ApiError> {
    if *value == 0 || *value < -1 {
        if pedantic && *value < -1 {
            return Err(ApiError::pedantic(&format!("{name} must be set to -1")));
        }
        *value = -1;
    }
    Ok(())
}

/// What the server's settings bound a stream's configuration by.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerBounds {
    pub duplicate_window: Option<Duration>,
}

/// `config` checked and completed, or the error nats-server gives for it.
pub fn check(
    config: &StreamConfig,
    bounds: ServerBounds,
    account: &JetStreamAccountLimits,
) -> Result<StreamConfig, ApiError> {
    let pedantic = config.pedantic;
    if !is_valid_name(&config.name) {
        return Err(invalid(
            "stream name is required and can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if config.name.len() > MAX_NAME_LEN {
        return Err(invalid(&format!(
            "stream name is too long, maximum allowed is {MAX_NAME_LEN}"
        )));
    }
    if config.description.len() > MAX_DESCRIPTION_LEN {
        return Err(invalid(&format!(
            "stream description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}"
        )));
    }
    let metadata_len: usize = config.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if metadata_len > MAX_METADATA_LEN {
        return Err(invalid(&format!(
            "stream metadata exceeds maximum size of {MAX_METADATA_LEN} bytes"
        )));
    }
    let mut cfg = config.clone();
    if cfg.num_replicas == 0 {
        cfg.num_replicas = 1;
    }
    if cfg.num_replicas > MAX_REPLICAS {
        return Err(invalid(&format!("maximum replicas is {MAX_REPLICAS}")));
    }
    if cfg.num_replicas < 0 {
        return Err(ApiError::replicas_negative());
    }
    unlimited_default(&mut cfg.max_msgs, "max_msgs", pedantic)?;
    unlimited_default(
        &mut cfg.max_msgs_per_subject,
        "max_msgs_per_subject",
        pedantic,
    )?;
    unlimited_default(&mut cfg.max_bytes, "max_bytes", pedantic)?;
    unlimited_default(&mut cfg.max_msg_size, "max_msg_size", pedantic)?;
    unlimited_default(&mut cfg.max_consumers, "max_consumers", pedantic)?;
    if cfg.max_age < 0 {
        return Err(invalid("max age can not be negative"));
    }
    let shortest = SHORTEST.as_nanos() as i64;
    if cfg.max_age != 0 && cfg.max_age < shortest {
        return Err(invalid("max age needs to be >= 100ms"));
    }
    let server_window = bounds
        .duplicate_window
        .filter(|w| !w.is_zero())
        .map(|w| w.as_nanos() as i64);
    if cfg.duplicate_window == 0 && cfg.mirror.is_none() && cfg.sources.is_empty() {
        let mut window = DEFAULT_DUPLICATE_WINDOW.as_nanos() as i64;
        if let Some(limit) = server_window.filter(|limit| window > *limit) {
            if pedantic {
                return Err(ApiError::pedantic(
                    "duplicate window limits are higher than current limits",
                ));
            }
            window = limit;
        }
        if cfg.max_age != 0 && cfg.max_age < window {
            if pedantic {
                return Err(ApiError::pedantic(
                    "duplicate window cannot be bigger than max age",
                ));
            }
            cfg.duplicate_window = cfg.max_age;
        } else {
            cfg.duplicate_window = window;
        }
    }
    if cfg.duplicate_window < 0 {
        return Err(invalid("duplicates window can not be negative"));
    }
    if cfg.max_age != 0 && cfg.duplicate_window > cfg.max_age {
        return Err(invalid("duplicates window can not be larger then max age"));
    }
    if let Some(limit) = server_window.filter(|limit| cfg.duplicate_window > *limit) {
        return Err(invalid(&format!(
            "duplicates window can not be larger then server limit of {}",
            natsd_server::timefmt::go_duration(Duration::from_nanos(limit as u64))
        )));
    }
    if cfg.duplicate_window > 0 && cfg.duplicate_window < shortest {
        return Err(invalid("duplicates window needs to be >= 100ms"));
    }
    if cfg.deny_purge && cfg.allow_rollup_hdrs {
        return Err(invalid("roll-ups require the purge permission"));
    }
    check_features(&mut cfg, pedantic)?;
    check_sources(&cfg)?;
    check_subjects(&mut cfg)?;
    if account.max_bytes_required && cfg.max_bytes <= 0 {
        return Err(ApiError::max_bytes_required());
    }
    let stream_bytes_limit = match cfg.storage {
        crate::types::Storage::File => account.storage_max_stream_bytes,
        crate::types::Storage::Memory => account.memory_max_stream_bytes,
    };
    if stream_bytes_limit > 0 && cfg.max_bytes > stream_bytes_limit {
        return Err(ApiError::max_stream_bytes_exceeded());
    }
    check_transforms(&mut cfg, pedantic)?;
    if cfg
        .placement
        .as_ref()
        .is_some_and(|p| *p == Default::default())
    {
        cfg.placement = None;
    }
    if cfg
        .placement
        .as_ref()
        .is_some_and(|p| !p.preferred.is_empty())
    {
        return Err(invalid("preferred server not permitted in placement"));
    }
    set_required_level(&mut cfg);
    Ok(cfg)
}

/// The options that exclude each other (counters, delete markers, schedules, async
/// persistence), with nats-server's fix-ups.
fn check_features(cfg: &mut StreamConfig, pedantic: bool) -> Result<(), ApiError> {
    if cfg.allow_msg_counter {
        if cfg.discard == Discard::New {
            return Err(invalid("counter stream cannot use discard new"));
        }
        if cfg.allow_msg_ttl {
            return Err(invalid("counter stream cannot use message TTLs"));
        }
        if cfg.allow_msg_schedules {
            return Err(invalid("counter stream cannot use message schedules"));
        }
        if cfg.retention != crate::types::Retention::Limits {
            return Err(invalid("counter stream can only use limits retention"));
        }
    }
    if cfg.discard_new_per_subject {
        if cfg.discard != Discard::New {
            return Err(invalid(
                "discard new per subject requires discard new policy to be set",
            ));
        }
        if cfg.max_msgs_per_subject <= 0 {
            return Err(invalid(
                "discard new per subject requires max msgs per subject > 0",
            ));
        }
    }
    if cfg.subject_delete_marker_ttl > 0 {
        if cfg.subject_delete_marker_ttl < Duration::from_secs(1).as_nanos() as i64 {
            return Err(invalid(
                "subject delete marker TTL must be at least 1 second",
            ));
        }
        if !cfg.allow_msg_ttl {
            if pedantic {
                return Err(invalid(
                    "subject delete marker cannot be set if message TTLs are disabled",
                ));
            }
            cfg.allow_msg_ttl = true;
        }
        if !cfg.allow_rollup_hdrs {
            if pedantic {
                return Err(invalid(
                    "subject delete marker cannot be set if roll-ups are disabled",
                ));
            }
            cfg.allow_rollup_hdrs = true;
            cfg.deny_purge = false;
        }
    } else if cfg.subject_delete_marker_ttl < 0 {
        return Err(invalid("subject delete marker TTL must not be negative"));
    }
    if cfg.allow_msg_schedules {
        if cfg.discard == Discard::New {
            return Err(invalid("message scheduling cannot use discard new"));
        }
        if !cfg.allow_rollup_hdrs {
            if pedantic {
                return Err(invalid(
                    "message scheduling cannot be set if roll-ups are disabled",
                ));
            }
            cfg.allow_rollup_hdrs = true;
            cfg.deny_purge = false;
        }
    }
    if cfg.persist_mode == PersistMode::Async {
        if cfg.storage != crate::types::Storage::File {
            return Err(invalid(
                "async persist mode is only supported on file storage",
            ));
        }
        if cfg.num_replicas > 1 {
            return Err(invalid(
                "async persist mode is not supported on replicated streams",
            ));
        }
        if cfg.allow_atomic {
            return Err(invalid(
                "async persist mode is not supported with atomic batch publish",
            ));
        }
    }
    Ok(())
}

/// A mirror's exclusions and the names of mirrors and sources.
fn check_sources(cfg: &StreamConfig) -> Result<(), ApiError> {
    if let Some(mirror) = &cfg.mirror {
        if cfg.first_seq > 0 {
            return Err(ApiError::new(
                400,
                10143,
                "stream mirrors can not have first sequence configured",
            ));
        }
        if !cfg.subjects.is_empty() {
            return Err(ApiError::new(
                400,
                10034,
                "stream mirrors can not contain subjects",
            ));
        }
        if !cfg.sources.is_empty() {
            return Err(ApiError::new(
                400,
                10031,
                "stream mirrors can not also contain other sources",
            ));
        }
        if mirror.external.is_none() && !is_valid_name(&mirror.name) {
            return Err(ApiError::new(400, 10142, "mirrored stream name is invalid"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for source in &cfg.sources {
        if !is_valid_name(&source.name) {
            return Err(ApiError::new(400, 10141, "sourced stream name is invalid"));
        }
        let api = source.external.as_ref().map(|e| e.api.as_str());
        if !seen.insert((source.name.as_str(), api, source.filter_subject.as_str())) {
            return Err(ApiError::new(
                400,
                10140,
                "duplicate source configuration detected",
            ));
        }
    }
    Ok(())
}

/// The stream's own subjects: valid, distinct, not overlapping one another, and clear of
/// the server's namespaces unless acknowledgements are off.
fn check_subjects(cfg: &mut StreamConfig) -> Result<(), ApiError> {
    if cfg.subjects.is_empty() {
        if cfg.mirror.is_none() && cfg.sources.is_empty() {
            cfg.subjects.push(cfg.name.clone());
        }
        return Ok(());
    }
    for (at, subject) in cfg.subjects.iter().enumerate() {
        if !is_valid_subject(subject.as_bytes()) {
            return Err(invalid("invalid subject"));
        }
        if cfg.subjects[..at].contains(subject) {
            return Err(invalid("duplicate subjects detected"));
        }
        if subject == ">" {
            if !cfg.no_ack {
                return Err(invalid("capturing all subjects requires no-ack to be true"));
            }
            if cfg.num_replicas != 1 {
                return Err(invalid("capturing all subjects requires replicas of 1"));
            }
        }
        if !cfg.no_ack {
            let api = ["$JS.>", "$JSC.>", "$NRG.>"]
                .iter()
                .any(|space| subjects_collide(subject, space));
            if api && !natsd_subject::validate::is_subset(subject.as_bytes(), b"$JS.EVENT.>") {
                return Err(invalid(
                    "subjects that overlap with jetstream api require no-ack to be true",
                ));
            }
            if subjects_collide(subject, "$SYS.>")
                && !natsd_subject::validate::is_subset(subject.as_bytes(), b"$SYS.ACCOUNT.>")
            {
                return Err(invalid(
                    "subjects that overlap with system api require no-ack to be true",
                ));
            }
        }
        for other in &cfg.subjects[at + 1..] {
            if subjects_collide(other, subject) {
                return Err(invalid(&format!(
                    "subject {subject:?} overlaps with {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// `subject_transform` and `republish`, each checked by building it.
fn check_transforms(cfg: &mut StreamConfig, pedantic: bool) -> Result<(), ApiError> {
    if let Some(transform) = &cfg.subject_transform {
        if !transform.src.is_empty() && !is_valid_subject(transform.src.as_bytes()) {
            return Err(ApiError::new(
                400,
                10155,
                format!("stream transform source: invalid subject {}", transform.src),
            ));
        }
        let source = if transform.src.is_empty() {
            ">"
        } else {
            &transform.src
        };
        if let Err(error) = SubjectTransform::new(source, &transform.dest) {
            return Err(ApiError::new(
                400,
                10156,
                format!("stream transform: {error}"),
            ));
        }
    }
    let Some(republish) = &mut cfg.republish else {
        return Ok(());
    };
    if republish.src.is_empty() {
        if pedantic {
            return Err(ApiError::pedantic("republish source can not be empty"));
        }
        republish.src = ">".to_owned();
    }
    if let Some(transform) = &cfg.subject_transform {
        if republish.dest == ">"
            && republish.src == ">"
            && cfg.subjects.len() == 1
            && transform.src == cfg.subjects[0]
        {
            if pedantic {
                return Err(ApiError::pedantic(
                    "implicit republish based on subject transform",
                ));
            }
            republish.src.clone_from(&transform.dest);
            republish.dest.clone_from(&transform.dest);
        }
    }
    if cfg
        .subjects
        .iter()
        .any(|subject| subjects_collide(&republish.dest, subject))
    {
        return Err(invalid(
            "stream configuration for republish destination forms a cycle",
        ));
    }
    if SubjectTransform::new(&republish.src, &republish.dest).is_err() {
        return Err(invalid(&format!(
            "stream configuration for republish with transform from '{}' to '{}' not valid",
            republish.src, republish.dest
        )));
    }
    Ok(())
}

/// `_nats.req.level`: the API level the configuration's features need.
fn set_required_level(cfg: &mut StreamConfig) {
    cfg.metadata.remove(SERVER_VERSION_KEY);
    cfg.metadata.remove(SERVER_LEVEL_KEY);
    let mut level = 0;
    if cfg.allow_msg_ttl || cfg.subject_delete_marker_ttl > 0 {
        level = 1;
    }
    if cfg.allow_msg_counter
        || cfg.allow_atomic
        || cfg.allow_msg_schedules
        || cfg.persist_mode == PersistMode::Async
    {
        level = 2;
    }
    if cfg.allow_batched {
        level = 4;
    }
    cfg.metadata
        .insert(REQUIRED_LEVEL_KEY.to_owned(), level.to_string());
}

/// The configuration as replies show it: with the server's version and level.
pub fn with_server_metadata(cfg: &StreamConfig) -> StreamConfig {
    let mut shown = cfg.clone();
    shown.metadata.insert(
        SERVER_VERSION_KEY.to_owned(),
        natsd_server::COMPATIBLE_VERSION.to_owned(),
    );
    shown
        .metadata
        .insert(SERVER_LEVEL_KEY.to_owned(), API_LEVEL.to_string());
    shown
}

/// What an update may not change, with nats-server's words.
pub fn check_update(old: &StreamConfig, new: &StreamConfig) -> Result<(), ApiError> {
    if new.name != old.name {
        return Err(invalid("stream configuration name must match original"));
    }
    if new.num_replicas > 1 {
        return Err(ApiError::replicas_not_supported());
    }
    if new.storage != old.storage {
        return Err(invalid(
            "stream configuration update can not change storage type",
        ));
    }
    if new.retention != old.retention {
        return Err(invalid(
            "stream configuration update can not change retention policy",
        ));
    }
    if new.mirror != old.mirror {
        return Err(ApiError::mirror_not_updatable());
    }
    if old.sealed && !new.sealed {
        return Err(invalid(
            "stream configuration update can not unseal a sealed stream",
        ));
    }
    if old.deny_delete && !new.deny_delete {
        return Err(invalid(
            "stream configuration update can not cancel deny message deletes",
        ));
    }
    if old.deny_purge && !new.deny_purge {
        return Err(invalid(
            "stream configuration update can not cancel deny purge",
        ));
    }
    if old.allow_msg_ttl && !new.allow_msg_ttl {
        return Err(invalid(
            "stream configuration update can not disable message TTL",
        ));
    }
    if old.allow_msg_counter != new.allow_msg_counter {
        return Err(invalid(
            "stream configuration update can not change message counter setting",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> StreamConfig {
        StreamConfig {
            name: name.to_owned(),
            ..StreamConfig::default()
        }
    }

    fn checked(cfg: &StreamConfig) -> Result<StreamConfig, ApiError> {
        check(
            cfg,
            ServerBounds::default(),
            &JetStreamAccountLimits::default(),
        )
    }

    #[test]
    fn fills_in_nats_server_defaults() {
        let cfg = checked(&named("S")).unwrap_or_default();
        assert_eq!(cfg.subjects, ["S"]);
        assert_eq!(
            (cfg.max_msgs, cfg.max_bytes, cfg.max_msg_size),
            (-1, -1, -1)
        );
        assert_eq!(cfg.num_replicas, 1);
        assert_eq!(cfg.duplicate_window, 120_000_000_000);
        assert_eq!(
            cfg.metadata.get(REQUIRED_LEVEL_KEY).map(String::as_str),
            Some("0")
        );
    }

    #[test]
    fn duplicate_window_follows_a_shorter_max_age() {
        let mut cfg = named("S");
        cfg.max_age = 1_000_000_000;
        assert_eq!(checked(&cfg).map(|c| c.duplicate_window), Ok(1_000_000_000));
        cfg.pedantic = true;
        assert_eq!(
            checked(&cfg).map_err(|e| e.err_code),
            Err(10157),
            "pedantic refuses the fix-up"
        );
    }

    #[test]
    fn refuses_overlapping_and_reserved_subjects() {
        let mut cfg = named("S");
        cfg.subjects = vec!["a.*".into(), "a.b".into()];
        assert_eq!(
            checked(&cfg).map_err(|e| e.description),
            Err("subject \"a.*\" overlaps with \"a.b\"".to_owned())
        );
        cfg.subjects = vec!["$JS.API.>".into()];
        assert_eq!(checked(&cfg).map_err(|e| e.err_code), Err(10052));
        cfg.subjects = vec![">".into()];
        assert_eq!(
            checked(&cfg).map_err(|e| e.description),
            Err("capturing all subjects requires no-ack to be true".to_owned())
        );
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "a.b", "a*", "a>", "a/b", "a b"] {
            assert_eq!(
                checked(&named(bad)).map_err(|e| e.err_code),
                Err(10052),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn collisions_follow_wildcards() {
        assert!(subjects_collide("a.*", "a.b"));
        assert!(subjects_collide("a.>", "a.b.c"));
        assert!(subjects_collide(">", "x"));
        assert!(!subjects_collide("a.*", "a.b.c"));
        assert!(!subjects_collide("a.b", "a.c"));
    }
}
