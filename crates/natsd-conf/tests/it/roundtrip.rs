//! Property: a tree rendered in any mix of the format's spellings parses back to itself.
//! The generated tree is the oracle; the renderer picks separators, terminators, quoting and
//! comments at random.

use natsd_conf::{parse_str, Kind, Map};
use proptest::prelude::*;

use crate::FakeHost;

#[derive(Debug, Clone)]
enum Node {
    Int(i64),
    Bool(bool),
    Str(String),
    List(Vec<Node>),
    Block(Vec<(String, Node)>),
}

fn key() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,7}".prop_filter("not a keyword or a boolean", |k| {
        !["include", "true", "false", "yes", "no", "on", "off"].contains(&k.as_str())
    })
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(|n| Node::Int(i64::from(n))),
        any::<bool>().prop_map(Node::Bool),
        "[ -~]{0,12}".prop_map(Node::Str),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Node::List),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|entries| Node::Block(dedupe(entries))),
        ]
    })
}

fn dedupe(entries: Vec<(String, Node)>) -> Vec<(String, Node)> {
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .filter(|(key, _)| seen.insert(key.clone()))
        .collect()
}

/// Random choices for the renderer, drawn up front.
struct Style(Vec<u8>, usize);

impl Style {
    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        let byte = self
            .0
            .get(self.1 % self.0.len().max(1))
            .copied()
            .unwrap_or(0);
        self.1 += 1;
        options[usize::from(byte) % options.len()]
    }
}

fn render_value(node: &Node, style: &mut Style, out: &mut String) {
    match node {
        Node::Int(n) => out.push_str(&n.to_string()),
        Node::Bool(b) => out.push_str(if *b {
            style.pick(&["true", "yes", "on", "TRUE"])
        } else {
            style.pick(&["false", "no", "off", "False"])
        }),
        Node::Str(s) => {
            let bare = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./:".contains(c))
                && !["true", "false", "yes", "no", "on", "off"]
                    .contains(&s.to_ascii_lowercase().as_str());
            if bare && style.pick(&["bare", "quoted"]) == "bare" {
                out.push_str(s);
            } else if !s.contains('\'') && style.pick(&["single", "double"]) == "single" {
                out.push('\'');
                out.push_str(s);
                out.push('\'');
            } else {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
        }
        Node::List(items) => {
            out.push('[');
            for item in items {
                out.push_str(style.pick(&[" ", "\n  ", ""]));
                render_value(item, style, out);
                out.push_str(style.pick(&[",", "\n", " ,", " # note\n"]));
            }
            // A number right before `]` would turn into a string, as in nats-server.
            out.push_str(" ]");
        }
        Node::Block(entries) => {
            out.push('{');
            render_entries(entries, style, out);
            out.push('}');
        }
    }
}

fn render_entries(entries: &[(String, Node)], style: &mut Style, out: &mut String) {
    out.push('\n');
    for (key, value) in entries {
        out.push_str(style.pick(&["", "  ", "\t"]));
        out.push_str(key);
        if matches!(value, Node::Block(_)) {
            out.push_str(style.pick(&[" ", " = ", ": "]));
        } else {
            out.push_str(style.pick(&[" = ", ": ", ":", "=", " ", "\t"]));
        }
        render_value(value, style, out);
        out.push_str(style.pick(&["\n", ";\n", ",\n", " # comment\n", " // comment\n"]));
    }
}

fn matches(node: &Node, kind: &Kind) -> bool {
    match (node, kind) {
        (Node::Int(a), Kind::Integer(b)) => a == b,
        (Node::Bool(a), Kind::Bool(b)) => a == b,
        (Node::Str(a), Kind::String(b)) => a == b,
        (Node::List(items), Kind::Array(values)) => {
            items.len() == values.len()
                && items.iter().zip(values).all(|(n, v)| matches(n, &v.kind))
        }
        (Node::Block(entries), Kind::Map(map)) => same_map(entries, map),
        _ => false,
    }
}

fn same_map(entries: &[(String, Node)], map: &Map) -> bool {
    entries.len() == map.len()
        && entries
            .iter()
            .all(|(key, node)| map.get(key).is_some_and(|v| matches(node, &v.kind)))
}

proptest! {
    #[test]
    fn rendered_trees_parse_back(
        entries in prop::collection::vec((key(), node()), 0..6).prop_map(dedupe),
        choices in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let mut text = String::new();
        render_entries(&entries, &mut Style(choices, 0), &mut text);
        let parsed = parse_str(&text, &FakeHost::default());
        prop_assert!(parsed.is_ok(), "{text}\n{:?}", parsed.err());
        let map = parsed.unwrap();
        prop_assert!(same_map(&entries, &map), "{text}\n{map:#?}");
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n\t]{0,200}") {
        let _ = parse_str(&text, &FakeHost::default());
    }
}
