//! What a user JWT restricts beyond permissions, and scoped signing key templates.
//!
//! - `src`: the client's address must fall in one of the CIDR blocks.
//! - `times`: the client may connect only within one of the day's windows, and is
//!   disconnected when the window closes (the window's end shortens the JWT's expiry).
//! - `allowed_connection_types`: plain clients are `STANDARD`.
//! - A scoped signing key's template replaces the user's permissions and limits; its
//!   subjects may name the user and account (`{{name()}}`, `{{subject()}}`,
//!   `{{account-name()}}`, `{{account-subject()}}`) and their tags (`{{tag(x)}}`,
//!   `{{account-tag(x)}}`, every value of tag `x:` giving a subject of its own).

use std::net::IpAddr;

use super::claims::{AccountNats, JwtRule, TimeRange, UserNats, UserPermissionLimits};
use super::{Claims, JwtError};

/// Seconds in a day; windows are times of day.
const DAY: i64 = 86_400;
/// Subjects one template entry may expand to, as nats-server bounds it.
const MAX_TEMPLATE_EXPANSIONS: usize = 4096;

/// The connection types nats-server knows.
pub const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

/// Whether a client of type `kind` may connect. Unknown names in the list are ignored,
/// unless nothing known is left, which admits no one.
pub(crate) fn connection_type_allowed(allowed: &[String], kind: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let known: Vec<String> = allowed
        .iter()
        .map(|t| t.to_ascii_uppercase())
        .filter(|t| CONNECTION_TYPES.contains(&t.as_str()))
        .collect();
    known.iter().any(|t| t == kind)
}

/// Whether `ip` is in one of the CIDR blocks; an empty list admits every address.
pub(crate) fn source_allowed(blocks: &[String], ip: Option<IpAddr>) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let Some(ip) = ip else {
        return false;
    };
    blocks.iter().any(|block| cidr_contains(block, ip))
}

fn cidr_contains(block: &str, ip: IpAddr) -> bool {
    let Some((network, bits)) = block.trim().split_once('/') else {
        return false;
    };
    let (Ok(network), Ok(bits)) = (network.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let ip = match (network, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

fn time_of_day(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let mut field = |max: i64| {
        parts
            .next()
            .filter(|p| (1..=2).contains(&p.len()))
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|v| (0..max).contains(v))
    };
    let (h, m, s) = (field(24)?, field(60)?, field(60)?);
    parts.next().is_none().then_some(h * 3600 + m * 60 + s)
}

/// Within which window `now` (Unix seconds) falls: `Ok(None)` when there are no windows,
/// `Ok(Some(left))` with the seconds left in the longest open window. Windows are read
/// in UTC: natsd carries no time zone database, so a named `times_location` other than
/// UTC is refused rather than guessed.
pub(crate) fn connect_window(
    times: &[TimeRange],
    location: &str,
    now: i64,
) -> Result<Option<i64>, JwtError> {
    if times.is_empty() {
        return Ok(None);
    }
    if !location.is_empty() && !location.eq_ignore_ascii_case("UTC") {
        return Err(JwtError::UnsupportedLocation(location.to_owned()));
    }
    let now = now.rem_euclid(DAY);
    let mut best = None;
    for range in times {
        let (Some(start), Some(end)) = (time_of_day(&range.start), time_of_day(&range.end)) else {
            return Err(JwtError::OutsideConnectTimes);
        };
        // A window whose start is after its end runs over midnight.
        let crosses_midnight = start > end;
        let left = if (start < now || crosses_midnight) && now < end {
            Some(end - now)
        } else if crosses_midnight && start < now {
            Some(end + DAY - now)
        } else {
            None
        };
        if let Some(left) = left {
            best = Some(best.map_or(left, |b: i64| b.max(left)));
        }
    }
    best.map(Some).ok_or(JwtError::OutsideConnectTimes)
}

/// The user's permissions and limits under a scoped key's template, which a user JWT
/// signed by such a key may not set itself.
pub(crate) fn scoped(
    template: &UserPermissionLimits,
    user: &Claims<UserNats>,
    account: &Claims<AccountNats>,
) -> Result<UserPermissionLimits, JwtError> {
    if user.nats.limits != UserPermissionLimits::default() {
        return Err(JwtError::ScopedUserHasPermissions);
    }
    let mut limits = template.clone();
    let context = TemplateContext { user, account };
    let rules = [
        &mut limits.permissions.subscribe,
        &mut limits.permissions.publish,
    ];
    for rule in rules {
        let had_allow = rule.allow.as_ref().is_some_and(|a| !a.is_empty());
        expand_rule(rule, &context)?;
        // Nothing left to allow must not read as "no allow list": deny everything.
        if had_allow && rule.allow.as_ref().is_none_or(Vec::is_empty) {
            rule.deny.get_or_insert_with(Vec::new).push(">".to_owned());
        }
    }
    Ok(limits)
}

struct TemplateContext<'a> {
    user: &'a Claims<UserNats>,
    account: &'a Claims<AccountNats>,
}

fn expand_rule(rule: &mut JwtRule, context: &TemplateContext<'_>) -> Result<(), JwtError> {
    if let Some(allow) = &mut rule.allow {
        *allow = expand_list(allow, context, false)?;
    }
    if let Some(deny) = &mut rule.deny {
        *deny = expand_list(deny, context, true)?;
    }
    Ok(())
}

/// Expands every entry; a subject that comes out invalid is dropped from allow lists and
/// refuses the user in deny lists, where dropping it would widen what the user may do.
fn expand_list(
    list: &[String],
    context: &TemplateContext<'_>,
    strict: bool,
) -> Result<Vec<String>, JwtError> {
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        let mut subjects = vec![String::new()];
        let mut rest = entry.as_str();
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                break;
            };
            let literal = &rest[..open];
            let operation = rest[open + 2..open + 2 + close].trim();
            let values = context.values(operation, entry, strict)?;
            if subjects.len().saturating_mul(values.len()) > MAX_TEMPLATE_EXPANSIONS {
                return Err(JwtError::BadTemplate(format!(
                    "{entry:?} expands to more than {MAX_TEMPLATE_EXPANSIONS} subjects"
                )));
            }
            subjects = subjects
                .iter()
                .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}{literal}{v}")))
                .collect();
            rest = &rest[open + 2 + close + 2..];
        }
        for subject in subjects {
            let subject = format!("{subject}{rest}");
            if natsd_subject::is_valid_subject(subject.as_bytes()) {
                out.push(subject);
            } else if strict {
                return Err(JwtError::BadTemplate(format!(
                    "{entry:?} generated the invalid subject {subject:?}"
                )));
            }
        }
    }
    if out.len() > MAX_TEMPLATE_EXPANSIONS {
        return Err(JwtError::BadTemplate(format!(
            "more than {MAX_TEMPLATE_EXPANSIONS} subjects"
        )));
    }
    Ok(out)
}

impl TemplateContext<'_> {
    fn values(&self, operation: &str, entry: &str, strict: bool) -> Result<Vec<String>, JwtError> {
        let lower = operation.to_ascii_lowercase();
        let single = |v: &str| Ok(vec![v.to_owned()]);
        match lower.as_str() {
            "name()" => return single(&self.user.name),
            "subject()" => return single(&self.user.sub),
            "account-name()" => return single(&self.account.name),
            "account-subject()" => return single(&self.account.sub),
            _ => {}
        }
        let (tags, name) = if let Some(name) = tag_argument(&lower, "account-tag(") {
            (&self.account.nats.tags, name)
        } else if let Some(name) = tag_argument(&lower, "tag(") {
            (&self.user.nats.tags, name)
        } else {
            return Err(JwtError::BadTemplate(format!(
                "template operation in {entry:?}: {operation:?} is not defined"
            )));
        };
        let prefix = format!("{name}:");
        let values: Vec<String> = tags
            .iter()
            .filter_map(|tag| tag.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect();
        match (values.is_empty(), strict) {
            (false, _) => Ok(values),
            (true, true) => Err(JwtError::BadTemplate(format!(
                "generated invalid subject {entry:?}: {name:?} is not defined"
            ))),
            // An invalid subject, dropped from the allow list.
            (true, false) => single(" "),
        }
    }
}

fn tag_argument<'a>(operation: &'a str, function: &str) -> Option<&'a str> {
    operation.strip_prefix(function)?.strip_suffix(')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let blocks = vec!["10.0.0.0/8".to_owned(), "::1/128".to_owned()];
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert!(source_allowed(&blocks, ip("10.2.3.4")));
        assert!(!source_allowed(&blocks, ip("11.0.0.1")));
        assert!(source_allowed(&blocks, ip("::1")));
        assert!(source_allowed(&blocks, ip("::ffff:10.1.1.1")));
        assert!(source_allowed(&[], None));
        assert!(!source_allowed(&blocks, None));
        // A bare address is not a CIDR block, as Go's ParseCIDR has it.
        assert!(!source_allowed(&["127.0.0.1".to_owned()], ip("127.0.0.1")));
        assert!(source_allowed(&["0.0.0.0/0".to_owned()], ip("1.2.3.4")));
    }

    fn window(start: &str, end: &str) -> Vec<TimeRange> {
        vec![TimeRange {
            start: start.into(),
            end: end.into(),
        }]
    }

    #[test]
    fn connect_windows() {
        let at = |h: i64, m: i64| 20_000 * DAY + h * 3600 + m * 60;
        assert_eq!(
            connect_window(&window("09:00:00", "17:00:00"), "", at(10, 0)),
            Ok(Some(7 * 3600))
        );
        assert_eq!(
            connect_window(&window("09:00:00", "17:00:00"), "", at(18, 0)),
            Err(JwtError::OutsideConnectTimes)
        );
        // Across midnight, on either side of it.
        let night = window("22:00:00", "06:00:00");
        assert_eq!(connect_window(&night, "UTC", at(23, 0)), Ok(Some(7 * 3600)));
        assert_eq!(connect_window(&night, "", at(5, 0)), Ok(Some(3600)));
        assert_eq!(
            connect_window(&night, "", at(12, 0)),
            Err(JwtError::OutsideConnectTimes)
        );
        assert_eq!(connect_window(&[], "", at(12, 0)), Ok(None));
        assert!(matches!(
            connect_window(&night, "Europe/Paris", at(23, 0)),
            Err(JwtError::UnsupportedLocation(_))
        ));
    }

    #[test]
    fn connection_types() {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(connection_type_allowed(&[], "STANDARD"));
        assert!(connection_type_allowed(&list(&["standard"]), "STANDARD"));
        assert!(!connection_type_allowed(&list(&["WEBSOCKET"]), "STANDARD"));
        assert!(connection_type_allowed(
            &list(&["STANDARD", "CARRIER_PIGEON"]),
            "STANDARD"
        ));
        assert!(!connection_type_allowed(
            &list(&["CARRIER_PIGEON"]),
            "STANDARD"
        ));
    }

    fn claims<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Claims<T> {
        match serde_json::from_value(value) {
            Ok(claims) => claims,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn scoped_templates_expand_names_and_tags() {
        let user: Claims<UserNats> = claims(serde_json::json!({
            "iss": "AS", "sub": "UKEY", "name": "alice",
            "nats": {"type": "user", "tags": ["team:red", "team:blue"]}}));
        let account: Claims<AccountNats> = claims(serde_json::json!({
            "iss": "OP", "sub": "AKEY", "name": "acme",
            "nats": {"type": "account", "tags": ["zone:eu"]}}));
        let template: UserPermissionLimits = match serde_json::from_value(serde_json::json!({
            "pub": {"allow": ["{{name()}}.{{tag(team)}}", "{{ account-name() }}.{{account-tag(zone)}}",
                              "{{tag(absent)}}.x"]},
            "sub": {"allow": ["{{subject()}}.{{account-subject()}}"], "deny": ["{{tag(team)}}.secret"]},
            "subs": 3}))
        {
            Ok(template) => template,
            Err(error) => panic!("{error}"),
        };
        let limits = match scoped(&template, &user, &account) {
            Ok(limits) => limits,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(
            limits.permissions.publish.allow,
            Some(vec![
                "alice.red".to_owned(),
                "alice.blue".to_owned(),
                "acme.eu".to_owned()
            ])
        );
        assert_eq!(
            limits.permissions.subscribe.allow,
            Some(vec!["UKEY.AKEY".to_owned()])
        );
        assert_eq!(
            limits.permissions.subscribe.deny,
            Some(vec!["red.secret".to_owned(), "blue.secret".to_owned()])
        );
        assert_eq!(limits.limits.subs, 3);

        // Deny lists may not lose an entry to a missing tag; unknown functions fail.
        let strict: UserPermissionLimits =
            match serde_json::from_value(serde_json::json!({"pub": {"deny": ["{{tag(absent)}}"]}}))
            {
                Ok(template) => template,
                Err(error) => panic!("{error}"),
            };
        assert!(matches!(
            scoped(&strict, &user, &account),
            Err(JwtError::BadTemplate(_))
        ));
        let unknown: UserPermissionLimits =
            match serde_json::from_value(serde_json::json!({"pub": {"allow": ["{{whoami()}}"]}})) {
                Ok(template) => template,
                Err(error) => panic!("{error}"),
            };
        assert!(matches!(
            scoped(&unknown, &user, &account),
            Err(JwtError::BadTemplate(_))
        ));
        // A user of a scoped key may not bring its own permissions.
        let mut busy = user.clone();
        busy.nats.limits.limits.subs = 1;
        assert_eq!(
            scoped(&template, &busy, &account),
            Err(JwtError::ScopedUserHasPermissions)
        );
    }
}
