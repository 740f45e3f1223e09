//! The Sublist against a naive matcher: after any sequence of inserts and removals, every
//! subject matches the same subscriptions in both.

use natsd_subject::{matches, Sublist};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Insert {
        pattern: String,
        queue: Option<String>,
        id: u32,
    },
    Remove(usize),
    Match(String),
}

fn pattern() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("*")],
        1..4,
    )
    .prop_flat_map(|tokens| {
        (Just(tokens), any::<bool>()).prop_map(|(mut tokens, full)| {
            if full {
                tokens.push(">");
            }
            tokens.join(".")
        })
    })
}

fn literal() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("d")],
        1..5,
    )
    .prop_map(|t| t.join("."))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            pattern(),
            proptest::option::of(prop_oneof![Just("q1".to_owned()), Just("q2".to_owned())]),
            any::<u32>()
        )
            .prop_map(|(pattern, queue, id)| Step::Insert { pattern, queue, id }),
        any::<usize>().prop_map(Step::Remove),
        literal().prop_map(Step::Match),
    ]
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

proptest! {
    #[test]
    fn sublist_agrees_with_naive_matcher(steps in proptest::collection::vec(step(), 1..80), cache in any::<bool>()) {
        let list = Sublist::new(cache);
        let mut naive: Vec<(String, Option<String>, u32)> = Vec::new();
        for (index, step) in steps.into_iter().enumerate() {
            match step {
                Step::Insert { pattern, queue, id } => {
                    // Items are held at most once under a subject and queue: the generated
                    // id is made unique by the step's index.
                    let id = id.wrapping_mul(128).wrapping_add(index as u32);
                    list.insert(pattern.as_bytes(), queue.as_deref().map(str::as_bytes), id).unwrap();
                    naive.push((pattern, queue, id));
                }
                Step::Remove(index) if !naive.is_empty() => {
                    let (pattern, queue, id) = naive.remove(index % naive.len());
                    prop_assert!(list.remove(pattern.as_bytes(), queue.as_deref().map(str::as_bytes), &id));
                }
                Step::Remove(_) => {}
                Step::Match(subject) => {
                    let got = list.matches(subject.as_bytes());
                    let want_plain: Vec<u32> = naive.iter()
                        .filter(|(p, q, _)| q.is_none() && matches(p.as_bytes(), subject.as_bytes()))
                        .map(|(_, _, id)| *id).collect();
                    prop_assert_eq!(sorted(got.plain.clone()), sorted(want_plain));
                    for name in ["q1", "q2"] {
                        let want: Vec<u32> = naive.iter()
                            .filter(|(p, q, _)| q.as_deref() == Some(name) && matches(p.as_bytes(), subject.as_bytes()))
                            .map(|(_, _, id)| *id).collect();
                        let have = got.queues.iter().find(|g| &*g.name == name.as_bytes())
                            .map(|g| g.members.clone()).unwrap_or_default();
                        prop_assert_eq!(sorted(have), sorted(want));
                    }
                }
            }
            prop_assert_eq!(list.count(), naive.len());
        }
    }
}
