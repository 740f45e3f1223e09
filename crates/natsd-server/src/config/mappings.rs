//! `mappings` (or `maps`), at the top level for the global account or in an account:
//! each source subject maps to a destination, a `{ dest, weight, cluster }` entry, or a
//! list of them. Checked as nats-server checks them, with its words.

use natsd_conf::{Entry, Kind, Pos, Value};
use natsd_subject::{MapDest, Mappings};

use super::ConfigIssue;

/// An error at `pos`: nats-server places what is wrong with a value at its key.
fn at(pos: &Pos, message: String) -> ConfigIssue {
    ConfigIssue {
        pos: pos.clone(),
        message,
    }
}

/// The mappings a `mappings` entry configures, each checked by building it.
pub(super) fn mappings(setting: &Entry) -> Result<Vec<(String, Vec<MapDest>)>, ConfigIssue> {
    let mut checked = Mappings::default();
    let mut configured = Vec::new();
    for entry in setting.value.as_map()?.entries() {
        let source = &entry.key;
        if !natsd_subject::is_valid_subject(source.as_bytes()) {
            let text = format!("Subject {source:?} is not a valid subject");
            return Err(at(&setting.key_pos, text));
        }
        let (value, pos) = (&entry.value, &entry.key_pos);
        let destinations = match &value.kind {
            Kind::String(destination) => {
                let destinations = vec![MapDest::all(destination)];
                checked.add(source, &destinations).map_err(|e| {
                    let text =
                        format!("Error adding mapping for {source:?} to {destination:?} : {e}");
                    at(pos, text)
                })?;
                destinations
            }
            kind => {
                let destinations = match kind {
                    Kind::Array(list) => list
                        .iter()
                        .map(|value| destination(value, &value.pos))
                        .collect::<Result<_, _>>()?,
                    _ => vec![destination(value, pos)?],
                };
                checked
                    .add(source, &destinations)
                    .map_err(|e| at(pos, format!("Error adding mapping for {source:?} : {e}")))?;
                destinations
            }
        };
        configured.push((source.clone(), destinations));
    }
    Ok(configured)
}

/// One `{ dest, weight, cluster }` entry, found at `pos`; the weight must be given.
fn destination(v: &Value, pos: &Pos) -> Result<MapDest, ConfigIssue> {
    let Kind::Map(map) = &v.kind else {
        let text = "Expected an entry for the mapping destination".to_owned();
        return Err(at(pos, text));
    };
    let mut destination = MapDest::all("");
    let mut weighted = false;
    for entry in map.entries() {
        let value = &entry.value;
        match entry.key.to_ascii_lowercase().as_str() {
            "dest" | "destination" => destination.subject = value.as_str()?.to_owned(),
            "weight" => {
                destination.weight = weight(value, &entry.key_pos)?;
                weighted = true;
            }
            "cluster" => destination.cluster = value.as_str()?.to_owned(),
            _ if entry.used_as_variable => {}
            _ => {
                let text = format!("Unknown field {:?} for mapping destination", entry.key);
                return Err(at(&entry.key_pos, text));
            }
        }
    }
    if !weighted {
        let text = format!(
            "Missing weight for mapping destination {:?}",
            destination.subject
        );
        return Err(at(pos, text));
    }
    Ok(destination)
}

/// A weight: a number or a percentage, 0 to 100.
fn weight(v: &Value, pos: &Pos) -> Result<u8, ConfigIssue> {
    let n = match &v.kind {
        Kind::Integer(n) => *n,
        Kind::String(text) => {
            let text = text.strip_suffix('%').unwrap_or(text);
            text.parse().map_err(|_| {
                at(
                    pos,
                    format!("Invalid weight {text:?} for mapping destination"),
                )
            })?
        }
        // nats-server's text, newline included.
        other => {
            let shown = match other {
                Kind::Float(f) => f.to_string(),
                Kind::Bool(b) => b.to_string(),
                Kind::DateTime(t) => t.clone(),
                _ => other.type_name().to_owned(),
            };
            let text = format!("Unknown entry type for weight of {shown}\n");
            return Err(at(pos, text));
        }
    };
    u8::try_from(n)
        .ok()
        .filter(|n| *n <= 100)
        .ok_or_else(|| at(pos, format!("Invalid weight {n} for mapping destination")))
}
