//! Activation tokens: the JWT with which an exporting account lets one other account
//! import an export that requires a token (`token_req`).
//!
//! The token must be signed by the exporter (or one of its signing keys, naming it in
//! `issuer_account`), be issued to the importing account, be of the import's kind, cover
//! the imported subject, be current, and not be revoked by the export.
//!
//! A token that is made out wrongly invalidates the importing account's JWT as a whole, as
//! nats-io/jwt's validation has it (see [`validate_account`], which also checks the
//! operator's limits on imports and exports); a missing token only leaves the import out.

use std::collections::HashMap;

use super::claims::{AccountNats, ActivationNats, ExportClaim, ShareType, NO_LIMIT};
use super::{check_times, decode, Claims, JwtError};

/// Checks `token`, presented by `importer` to import `subject` of `kind` from the account
/// `exporter` under `export`; `now` is Unix seconds.
pub fn verify_activation(
    token: &str,
    exporter: &Claims<AccountNats>,
    export: &ExportClaim,
    importer: &str,
    kind: &ShareType,
    subject: &str,
    now: i64,
) -> Result<(), JwtError> {
    let claims: Claims<ActivationNats> = decode(token)?;
    let issued_by_exporter = claims.iss == exporter.sub;
    let issued_by_signing_key = claims.nats.issuer_account.as_deref() == Some(&exporter.sub)
        && exporter
            .nats
            .signing_keys
            .iter()
            .any(|key| key.key() == claims.iss);
    if !issued_by_exporter && !issued_by_signing_key {
        return Err(JwtError::BadActivation(
            "not issued by the exporting account",
        ));
    }
    if claims.sub != importer {
        return Err(JwtError::BadActivation("issued to another account"));
    }
    if claims.nats.kind.as_ref() != Some(kind) {
        return Err(JwtError::BadActivation("of another kind"));
    }
    if !natsd_subject::matches(claims.nats.subject.as_bytes(), subject.as_bytes()) {
        return Err(JwtError::BadActivation(
            "does not cover the imported subject",
        ));
    }
    check_times(&claims, now)?;
    let revoked_at = export
        .revocations
        .get(importer)
        .or_else(|| export.revocations.get("*"));
    if revoked_at.is_some_and(|at| claims.iat <= *at) {
        return Err(JwtError::BadActivation("revoked"));
    }
    Ok(())
}

/// The checks nats-io/jwt makes of an account's claims that bear on the core server: its
/// imports and exports within the operator's limits, and each activation token it holds
/// made out to it, by the exporter, for what it imports. Returns nats-io/jwt's wording.
pub(crate) fn validate_account(claims: &Claims<AccountNats>) -> Result<(), String> {
    let nats = &claims.nats;
    let limits = &nats.limits;
    if limits.imports != NO_LIMIT && count(&nats.imports) > limits.imports {
        return Err("the account contains more imports than allowed by the operator".into());
    }
    if limits.exports != NO_LIMIT {
        if count(&nats.exports) > limits.exports {
            return Err("the account contains more exports than allowed by the operator".into());
        }
        let wildcard = nats
            .exports
            .iter()
            .any(|e| natsd_subject::has_wildcard(e.subject.as_bytes()));
        if !limits.wildcards && wildcard {
            return Err(
                "the account contains wildcard exports that are not allowed by the operator".into(),
            );
        }
    }
    validate_mappings(nats)?;
    for import in &nats.imports {
        let local = import.local_subject.as_deref().filter(|s| !s.is_empty());
        let to = import.to.as_deref().filter(|s| !s.is_empty());
        if local.is_some() && to.is_some() {
            return Err("Local Subject replaces To".into());
        }
        let Some(token) = import.token.as_deref().filter(|t| !t.is_empty()) else {
            continue;
        };
        let subject = &import.subject;
        let Ok(activation) = decode::<ActivationNats>(token) else {
            return Err(format!(
                "import {subject:?} contains an invalid activation token"
            ));
        };
        let issuer_account = activation.nats.issuer_account.as_deref();
        if activation.iss != import.account && issuer_account != Some(import.account.as_str()) {
            return Err(format!(
                "activation token doesn't match account for import {subject:?}"
            ));
        }
        if activation.sub != claims.sub {
            return Err(format!(
                "activation token doesn't match account it is being included in, {subject:?}"
            ));
        }
        if activation.nats.kind.as_ref() != Some(&import.kind) {
            return Err("mismatch between token import type and type of import".into());
        }
        let imported = match (&import.kind, to) {
            (ShareType::Service, Some(to)) => to,
            _ => subject.as_str(),
        };
        if !natsd_subject::matches(activation.nats.subject.as_bytes(), imported.as_bytes()) {
            return Err(format!(
                "activation token import subject {:?} doesn't match import {subject:?}",
                activation.nats.subject
            ));
        }
    }
    Ok(())
}

/// nats-io/jwt's checks of an account's mappings: subjects, and weights within 100 per
/// cluster and in all.
fn validate_mappings(nats: &AccountNats) -> Result<(), String> {
    let subject_ok = |subject: &str| {
        if subject.is_empty() {
            Err("subject cannot be empty".to_owned())
        } else if subject.contains(' ') {
            Err(format!("subject {subject:?} cannot have spaces"))
        } else {
            Ok(())
        }
    };
    for (from, destinations) in &nats.mappings {
        subject_ok(from)?;
        let mut total = 0u32;
        let mut clusters: HashMap<&str, u32> = HashMap::new();
        for destination in destinations {
            subject_ok(&destination.subject)?;
            let weight = u32::from(destination.weight());
            if weight > 100 {
                return Err(format!(
                    "Mapping {from:?} has a weight {weight} that exceeds 100"
                ));
            }
            if destination.cluster.is_empty() {
                total += weight;
            } else {
                let cluster = clusters.entry(&destination.cluster).or_default();
                *cluster += weight;
                if *cluster > 100 {
                    return Err(format!(
                        "Mapping {from:?} in cluster {:?} exceeds 100% among all of it's weighted to mappings",
                        destination.cluster
                    ));
                }
            }
        }
        if total > 100 {
            return Err(format!(
                "Mapping {from:?} exceeds 100% among all of it's weighted to mappings"
            ));
        }
    }
    Ok(())
}

fn count<T>(items: &[T]) -> i64 {
    i64::try_from(items.len()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::encode;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn claims<T: serde::de::DeserializeOwned>(token: &str) -> Claims<T> {
        match decode(token) {
            Ok(claims) => claims,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn activations_are_checked_against_exporter_holder_subject_and_time() {
        let operator = nkeys::KeyPair::new_operator();
        let exporter_key = nkeys::KeyPair::new_account();
        let importer = nkeys::KeyPair::new_account().public_key();
        let exporter: Claims<AccountNats> = claims(
            &encode(
                &json!({"iss": operator.public_key(), "sub": exporter_key.public_key(),
                    "nats": {"type": "account", "exports": [
                        {"subject": "p.>", "type": "stream", "token_req": true,
                         "revocations": {"ADEAD": NOW}}]}}),
                &operator,
            )
            .unwrap_or_default(),
        );
        let export = &exporter.nats.exports[0];
        let activation = |signer: &nkeys::KeyPair, holder: &str, subject: &str, exp: i64| {
            encode(
                &json!({"iss": signer.public_key(), "sub": holder, "iat": NOW, "exp": exp,
                    "nats": {"type": "activation", "subject": subject, "kind": "stream"}}),
                signer,
            )
            .unwrap_or_default()
        };
        let check = |token: &str, holder: &str| {
            verify_activation(
                token,
                &exporter,
                export,
                holder,
                &ShareType::Stream,
                "p.x",
                NOW,
            )
        };
        let good = activation(&exporter_key, &importer, "p.>", NOW + 60);
        assert_eq!(check(&good, &importer), Ok(()));
        assert_eq!(
            check(&crate::jwt::forged(&good), &importer),
            Err(JwtError::BadSignature)
        );
        // Made out to another account, by a stranger, for less, or expired.
        assert!(check(&good, "AOTHER").is_err());
        let stranger = nkeys::KeyPair::new_account();
        assert!(check(
            &activation(&stranger, &importer, "p.>", NOW + 60),
            &importer
        )
        .is_err());
        assert!(check(
            &activation(&exporter_key, &importer, "p.y", NOW + 60),
            &importer
        )
        .is_err());
        assert_eq!(
            check(&activation(&exporter_key, &importer, "p.>", NOW), &importer),
            Err(JwtError::Expired)
        );
        // Revoked by the export.
        let revoked = activation(&exporter_key, "ADEAD", "p.>", NOW + 60);
        assert_eq!(
            check(&revoked, "ADEAD"),
            Err(JwtError::BadActivation("revoked"))
        );
    }
}
