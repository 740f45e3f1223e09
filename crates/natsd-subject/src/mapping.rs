//! An account's subject mappings: a published subject matching a mapping's source is
//! rewritten, before anything else looks at it, to one of the mapping's destinations,
//! chosen by weight. As in nats-server, weights under 100 leave the rest of the traffic on
//! the original subject unless the source is listed among the destinations itself (then
//! the rest is dropped), and destinations scoped to a cluster replace the others there.

use crate::transform::{identity_destination, SubjectTransform, TransformError};
use crate::validate::{has_wildcard, is_valid_subject, matches, tokens};

/// One destination of a mapping, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDest {
    pub subject: String,
    /// Percent of the traffic, 0 to 100.
    pub weight: u8,
    /// The cluster the destination applies in; empty for everywhere.
    pub cluster: String,
}

impl MapDest {
    /// A destination that takes everything.
    pub fn all(subject: &str) -> Self {
        MapDest {
            subject: subject.to_owned(),
            weight: 100,
            cluster: String::new(),
        }
    }
}

/// Why a mapping was refused, in nats-server's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("duplicate entry for {0:?}")]
    Duplicate(String),
    #[error("individual weights need to be <= 100")]
    Weight,
    #[error("total weight needs to be <= 100")]
    TotalWeight,
    #[error(transparent)]
    Transform(#[from] TransformError),
}

/// A destination with the weights of those before it added in, so that a roll below
/// `upto` picks it.
#[derive(Debug, Clone)]
struct Weighted {
    transform: SubjectTransform,
    upto: u8,
}

#[derive(Debug, Clone)]
struct Mapping {
    source: String,
    wildcard: bool,
    destinations: Vec<Weighted>,
    /// Destinations scoped to clusters, by cluster name.
    scoped: Vec<(String, Vec<Weighted>)>,
}

/// An account's mappings, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    entries: Vec<Mapping>,
}

impl Mappings {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds (or replaces) the mapping of `source`, with nats-server's checks.
    pub fn add(&mut self, source: &str, destinations: &[MapDest]) -> Result<(), MappingError> {
        if !is_valid_subject(source.as_bytes()) {
            return Err(TransformError::BadSubject.into());
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut unscoped = Vec::new();
        let mut scoped: Vec<(String, Vec<(SubjectTransform, u8)>)> = Vec::new();
        for (i, destination) in destinations.iter().enumerate() {
            if seen.contains(&destination.subject.as_str()) {
                return Err(MappingError::Duplicate(destination.subject.clone()));
            }
            seen.push(&destination.subject);
            if destination.weight > 100 {
                return Err(MappingError::Weight);
            }
            let cluster = destination.cluster.as_str();
            let total: u32 = destinations[..=i]
                .iter()
                .filter(|d| d.cluster == cluster)
                .map(|d| u32::from(d.weight))
                .sum();
            if total > 100 {
                return Err(MappingError::TotalWeight);
            }
            let transform = SubjectTransform::new(source, &destination.subject)?;
            if cluster.is_empty() {
                unscoped.push((transform, destination.weight));
            } else {
                match scoped.iter_mut().find(|(c, _)| c == cluster) {
                    Some((_, list)) => list.push((transform, destination.weight)),
                    None => {
                        scoped.push((cluster.to_owned(), vec![(transform, destination.weight)]))
                    }
                }
            }
        }
        let source_listed = seen.contains(&source);
        let cumulate = |list| cumulate(source, source_listed, list);
        let mapping = Mapping {
            source: source.to_owned(),
            wildcard: has_wildcard(source.as_bytes()),
            destinations: cumulate(unscoped)?,
            scoped: scoped
                .into_iter()
                .map(|(cluster, list)| Ok((cluster, cumulate(list)?)))
                .collect::<Result<_, MappingError>>()?,
        };
        match self.entries.iter_mut().find(|m| m.source == source) {
            Some(existing) => *existing = mapping,
            None => self.entries.push(mapping),
        }
        Ok(())
    }

    /// The subject `subject` is mapped to in `cluster`, or `None` when no mapping applies.
    /// An empty subject means the weights left this message nowhere to go. `random`
    /// supplies the rolls.
    pub fn select(
        &self,
        subject: &[u8],
        cluster: &str,
        random: &mut dyn FnMut() -> u32,
    ) -> Option<Vec<u8>> {
        // nats-server splits the subject only once a wildcard source is tried, and hands
        // a literal source's destination the tokens split so far, perhaps none: only a
        // whole-subject partition can tell, and it hashes what it was handed.
        let mut split: Vec<&[u8]> = Vec::new();
        let mapping = self.entries.iter().find(|mapping| {
            if !mapping.wildcard && mapping.source.as_bytes() == subject {
                return true;
            }
            if split.is_empty() {
                split = tokens(subject).collect();
            }
            matches(mapping.source.as_bytes(), subject)
        })?;
        let destinations = mapping
            .scoped
            .iter()
            .find(|(c, _)| !cluster.is_empty() && c == cluster)
            .map_or(&mapping.destinations, |(_, list)| list);
        let chosen = match destinations.as_slice() {
            [only] if only.upto == 100 => Some(only),
            list => {
                let roll = (random() % 100) as u8;
                list.iter().find(|d| roll < d.upto)
            }
        };
        Some(chosen.map_or_else(Vec::new, |d| d.transform.apply(&split, random)))
    }

    /// Each mapping's source and destinations as selection sees them, the way
    /// nats-server's monitoring shows them: with the share left on the source subject
    /// added, and each weight summed up with those before it.
    pub fn destinations(&self) -> impl Iterator<Item = (&str, Vec<MapDest>)> {
        self.entries.iter().map(|m| {
            let shown = |cluster: &str, list: &[Weighted]| {
                list.iter()
                    .map(|d| MapDest {
                        subject: d.transform.destination().to_owned(),
                        weight: d.upto,
                        cluster: cluster.to_owned(),
                    })
                    .collect::<Vec<_>>()
            };
            let mut all = shown("", &m.destinations);
            for (cluster, list) in &m.scoped {
                all.extend(shown(cluster, list));
            }
            (m.source.as_str(), all)
        })
    }
}

/// Sorts destinations by weight and sums the weights up; traffic the weights leave over
/// stays on the source subject, unless the source was listed itself.
fn cumulate(
    source: &str,
    source_listed: bool,
    mut list: Vec<(SubjectTransform, u8)>,
) -> Result<Vec<Weighted>, MappingError> {
    let total: u32 = list.iter().map(|(_, weight)| u32::from(*weight)).sum();
    if total != 100 && !source_listed {
        let identity = SubjectTransform::new(source, &identity_destination(source))?;
        let rest = if list.is_empty() { 100 } else { 100 - total };
        list.push((identity, rest as u8));
    }
    list.sort_by_key(|(_, weight)| *weight);
    let mut upto = 0u8;
    Ok(list
        .into_iter()
        .map(|(transform, weight)| {
            upto = upto.saturating_add(weight);
            Weighted { transform, upto }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(subject: &str, weight: u8) -> MapDest {
        MapDest {
            subject: subject.to_owned(),
            weight,
            cluster: String::new(),
        }
    }

    fn select(mappings: &Mappings, subject: &str, roll: u32) -> Option<String> {
        let mapped = mappings.select(subject.as_bytes(), "", &mut || roll)?;
        Some(String::from_utf8(mapped).expect("utf-8"))
    }

    #[test]
    fn the_first_matching_source_maps_the_subject() {
        let mut mappings = Mappings::default();
        mappings.add("foo", &[MapDest::all("bar")]).expect("valid");
        mappings.add("a.*", &[MapDest::all("b.$1")]).expect("valid");
        mappings.add("a.>", &[MapDest::all("c.>")]).expect("valid");
        assert_eq!(select(&mappings, "foo", 0).as_deref(), Some("bar"));
        assert_eq!(select(&mappings, "a.x", 0).as_deref(), Some("b.x"));
        assert_eq!(select(&mappings, "a.x.y", 0).as_deref(), Some("c.x.y"));
        assert_eq!(select(&mappings, "foo.bar", 0), None);
        // Adding a source again replaces its mapping.
        mappings.add("foo", &[MapDest::all("baz")]).expect("valid");
        assert_eq!(select(&mappings, "foo", 0).as_deref(), Some("baz"));
    }

    #[test]
    fn weights_split_the_traffic_and_the_rest_stays() {
        let mut mappings = Mappings::default();
        mappings
            .add("s.*", &[dest("x.$1", 20), dest("y.$1", 30)])
            .expect("valid");
        // Sorted by weight: x below 20, y below 50, the original subject below 100.
        assert_eq!(select(&mappings, "s.1", 19).as_deref(), Some("x.1"));
        assert_eq!(select(&mappings, "s.1", 49).as_deref(), Some("y.1"));
        assert_eq!(select(&mappings, "s.1", 50).as_deref(), Some("s.1"));
        assert_eq!(select(&mappings, "s.1", 199).as_deref(), Some("s.1"));
        let (source, shown) = mappings.destinations().next().expect("one mapping");
        let shown: Vec<(&str, u8)> = shown
            .iter()
            .map(|d| (d.subject.as_str(), d.weight))
            .collect();
        assert_eq!(source, "s.*");
        assert_eq!(shown, [("x.$1", 20), ("y.$1", 50), ("s.$1", 100)]);
    }

    #[test]
    fn listing_the_source_drops_what_the_weights_leave() {
        let mut mappings = Mappings::default();
        mappings.add("s", &[dest("s", 40)]).expect("valid");
        assert_eq!(select(&mappings, "s", 39).as_deref(), Some("s"));
        assert_eq!(select(&mappings, "s", 40).as_deref(), Some(""));
    }

    #[test]
    fn cluster_scoped_destinations_replace_the_others_in_their_cluster() {
        let mut mappings = Mappings::default();
        let east = MapDest {
            cluster: "east".to_owned(),
            ..MapDest::all("e")
        };
        mappings
            .add("s", &[MapDest::all("all"), east])
            .expect("valid");
        let pick = |cluster| mappings.select(b"s", cluster, &mut || 0);
        assert_eq!(pick("east").as_deref(), Some(&b"e"[..]));
        assert_eq!(pick("west").as_deref(), Some(&b"all"[..]));
        assert_eq!(pick("").as_deref(), Some(&b"all"[..]));
    }

    #[test]
    fn bad_mappings_are_refused_in_nats_server_words() {
        let mut mappings = Mappings::default();
        let refused = |mappings: &mut Mappings, source, list: &[MapDest]| {
            mappings.add(source, list).expect_err("refused").to_string()
        };
        assert_eq!(
            refused(&mut mappings, "a", &[dest("b", 40), dest("b", 30)]),
            "duplicate entry for \"b\""
        );
        assert_eq!(
            refused(&mut mappings, "a", &[dest("b", 101)]),
            "individual weights need to be <= 100"
        );
        assert_eq!(
            refused(&mut mappings, "a", &[dest("b", 60), dest("c", 50)]),
            "total weight needs to be <= 100"
        );
        assert_eq!(
            refused(&mut mappings, "a b", &[dest("b", 1)]),
            "invalid subject"
        );
        assert!(mappings.is_empty());
    }
}
