//! Query parameters as nats-server reads them, with its error texts.

use std::collections::HashMap;

use natsd_server::jetstream::{HealthzOptions, JszOptions};
use natsd_server::monitor::connz::{ConnState, ConnzOptions, SubsDetail};
use natsd_server::monitor::subsz::SubszOptions;
use natsd_server::monitor::BadRequest;

type Params = HashMap<String, String>;

/// Go's `strconv.ParseBool`; absent means false.
pub fn flag(params: &Params, key: &str) -> Result<bool, BadRequest> {
    match params.get(key).map(String::as_str) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(BadRequest(format!(
            "Error decoding boolean for '{key}': strconv.ParseBool: parsing \"{other}\": invalid syntax"
        ))),
    }
}

fn number<T: std::str::FromStr + Default>(params: &Params, key: &str) -> Result<T, BadRequest> {
    match params.get(key).map(String::as_str) {
        None | Some("") => Ok(T::default()),
        Some(text) => text.parse().map_err(|_| {
            BadRequest(format!(
                "Error decoding int for '{key}': strconv.Atoi: parsing \"{text}\": invalid syntax"
            ))
        }),
    }
}

fn subs(params: &Params) -> Result<SubsDetail, BadRequest> {
    if params.get("subs").is_some_and(|v| v == "detail") {
        return Ok(SubsDetail::Detail);
    }
    Ok(if flag(params, "subs")? {
        SubsDetail::List
    } else {
        SubsDetail::None
    })
}

pub fn connz(params: &Params) -> Result<ConnzOptions, BadRequest> {
    let state = match params.get("state").map(String::as_str) {
        None | Some("") | Some("open") => ConnState::Open,
        Some("closed") => ConnState::Closed,
        Some("any" | "all") => ConnState::All,
        Some(other) => return Err(BadRequest(format!("Error decoding state for {other}"))),
    };
    let cid: u64 = number(params, "cid")?;
    Ok(ConnzOptions {
        sort: params.get("sort").filter(|s| !s.is_empty()).cloned(),
        auth: flag(params, "auth")?,
        subs: subs(params)?,
        offset: number(params, "offset")?,
        limit: number(params, "limit")?,
        cid: (cid > 0).then_some(cid),
        state,
        user: params.get("user").filter(|s| !s.is_empty()).cloned(),
        account: params.get("acc").filter(|s| !s.is_empty()).cloned(),
    })
}

pub fn subsz(params: &Params) -> Result<SubszOptions, BadRequest> {
    Ok(SubszOptions {
        subs: subs(params)? != SubsDetail::None,
        offset: number(params, "offset")?,
        limit: number(params, "limit")?,
        test: params.get("test").filter(|s| !s.is_empty()).cloned(),
    })
}

/// `/jsz`'s query: `acc` and `consumers` are the `$SYS` body's `account` and `consumer`.
pub fn jsz(params: &Params) -> Result<JszOptions, BadRequest> {
    Ok(JszOptions {
        account: params.get("acc").cloned().unwrap_or_default(),
        accounts: flag(params, "accounts")?,
        streams: flag(params, "streams")?,
        consumers: flag(params, "consumers")?,
        config: flag(params, "config")?,
        offset: number(params, "offset")?,
        limit: number(params, "limit")?,
        leader_only: flag(params, "leader-only")?,
        raft: flag(params, "raft")?,
        stream_leader_only: flag(params, "stream-leader-only")?,
    })
}

/// `/healthz`'s query; `js-enabled` is the older name of `js-enabled-only`.
pub fn healthz(params: &Params) -> Result<HealthzOptions, BadRequest> {
    let text = |key: &str| params.get(key).cloned().unwrap_or_default();
    Ok(HealthzOptions {
        js_enabled_only: flag(params, "js-enabled-only")? || flag(params, "js-enabled")?,
        js_server_only: flag(params, "js-server-only")?,
        js_meta_only: flag(params, "js-meta-only")?,
        account: text("account"),
        stream: text("stream"),
        consumer: text("consumer"),
        details: flag(params, "details")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn connz_parameters() {
        let opts = connz(&params(&[
            ("subs", "detail"),
            ("state", "all"),
            ("limit", "2"),
            ("cid", "7"),
        ]))
        .unwrap_or_default();
        assert_eq!(opts.subs, SubsDetail::Detail);
        assert_eq!(opts.state, ConnState::All);
        assert_eq!((opts.limit, opts.cid), (2, Some(7)));
        assert_eq!(
            connz(&params(&[("limit", "abc")])).err(),
            Some(BadRequest(
                "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax"
                    .into()
            ))
        );
        assert_eq!(
            connz(&params(&[("state", "bogus")])).err(),
            Some(BadRequest("Error decoding state for bogus".into()))
        );
        assert!(connz(&params(&[("subs", "maybe")])).is_err());
    }
}
