#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;
mod roundtrip;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use natsd_conf::{parse_file_with, parse_str, ConfError, Host, Kind, Map, Value};

/// Files and environment variables held in memory.
#[derive(Default)]
pub struct FakeHost {
    pub files: HashMap<PathBuf, String>,
    pub env: HashMap<String, String>,
}

impl Host for FakeHost {
    fn read_file(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

fn parse(text: &str) -> Map {
    match parse_str(text, &FakeHost::default()) {
        Ok(map) => map,
        Err(error) => panic!("{text:?}: {error}"),
    }
}

fn fails(text: &str) -> ConfError {
    match parse_str(text, &FakeHost::default()) {
        Ok(map) => panic!("{text:?} parsed as {map:?}"),
        Err(error) => error,
    }
}

fn kind<'a>(map: &'a Map, key: &str) -> &'a Kind {
    &map.get(key).unwrap_or_else(|| panic!("no key {key}")).kind
}

fn string(s: &str) -> Kind {
    Kind::String(s.to_owned())
}

#[test]
fn every_separator_and_terminator() {
    let map = parse("a = 1\nb: 2\nc 3\nd=4; e:5, f 6 # done\ng: 7 // also a comment\n");
    for (key, n) in [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", 4),
        ("e", 5),
        ("f", 6),
        ("g", 7),
    ] {
        assert_eq!(kind(&map, key), &Kind::Integer(n), "{key}");
    }
}

#[test]
fn scalar_types() {
    let map = parse(
        r#"
        double: "quoted \"x\"\t\x41"
        single: 'raw \t'
        bare: nats://127.0.0.1:4222
        path: /var/lib/nats
        addr: 127.0.0.1:-1
        float: 2.5
        negative: -17
        yes_: yes
        off_: OFF
        true_: true
        when: 2026-11-26T10:00:00Z
        duration: 300ms
        block: (
line one
)
        "#,
    );
    assert_eq!(kind(&map, "double"), &string("quoted \"x\"\tA"));
    assert_eq!(kind(&map, "single"), &string("raw \\t"));
    assert_eq!(kind(&map, "bare"), &string("nats://127.0.0.1:4222"));
    assert_eq!(kind(&map, "path"), &string("/var/lib/nats"));
    assert_eq!(kind(&map, "addr"), &string("127.0.0.1:-1"));
    assert_eq!(kind(&map, "float"), &Kind::Float(2.5));
    assert_eq!(kind(&map, "negative"), &Kind::Integer(-17));
    assert_eq!(kind(&map, "yes_"), &Kind::Bool(true));
    assert_eq!(kind(&map, "off_"), &Kind::Bool(false));
    assert_eq!(kind(&map, "true_"), &Kind::Bool(true));
    assert_eq!(
        kind(&map, "when"),
        &Kind::DateTime("2026-11-26T10:00:00Z".to_owned())
    );
    assert_eq!(kind(&map, "duration"), &string("300ms"));
    assert_eq!(kind(&map, "block"), &string("\nline one\n"));
}

#[test]
fn size_suffixes() {
    let cases = [
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KiB", 1024),
        ("1ki", 1024),
        ("64MB", 64 << 20),
        ("64MiB", 64 << 20),
        ("2m", 2_000_000),
        ("1Gb", 1 << 30),
        ("10GiB", 10 << 30),
        ("1g", 1_000_000_000),
        ("3T", 3_000_000_000_000),
        ("1TB", 1 << 40),
        ("1p", 1_000_000_000_000_000),
        ("1PiB", 1 << 50),
        ("1e", 1_000_000_000_000_000_000),
        ("1EB", 1 << 60),
        ("-2k", -2000),
    ];
    for (text, expected) in cases {
        let map = parse(&format!("n: {text}\n"));
        assert_eq!(kind(&map, "n"), &Kind::Integer(expected), "{text}");
    }
    let error = fails("n: 16EB\n");
    assert!(error.to_string().contains("out of the range"), "{error}");
}

#[test]
fn maps_and_arrays() {
    let map = parse(
        "cluster {\n  port: 6222\n  routes [\n    nats://a:6222\n    nats://b:6222, nats://c:6222\n  ]\n}\n\
         tags: [ id:ABC, \"two\" ]\nusers = [\n  {user: a, password: b}\n  {user: c, password: d}\n]\nempty {}\n",
    );
    let cluster = map.get("cluster").unwrap().as_map().unwrap();
    assert_eq!(kind(cluster, "port"), &Kind::Integer(6222));
    assert_eq!(
        strings(cluster.get("routes").unwrap()),
        ["nats://a:6222", "nats://b:6222", "nats://c:6222"]
    );
    assert_eq!(strings(map.get("tags").unwrap()), ["id:ABC", "two"]);
    let users = map.get("users").unwrap().as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(kind(users[1].as_map().unwrap(), "password"), &string("d"));
    assert!(map.get("empty").unwrap().as_map().unwrap().is_empty());
}

/// nats-server's lexer turns a number directly followed by `]` into a string, and then
/// fails on the unclosed array; natsd reads files the same way.
#[test]
fn quirks_of_the_reference_lexer_are_kept() {
    assert!(parse_str("a: [1, 2]\n", &FakeHost::default()).is_err());
    let map = parse("a: [1, 2 ]\n");
    assert_eq!(map.get("a").unwrap().as_array().unwrap().len(), 2);
    // A number followed by letters is a string.
    assert_eq!(kind(&parse("a: 10s\n"), "a"), &string("10s"));
    // A key may be followed by its value on the next line.
    assert_eq!(kind(&parse("a\n  5\n"), "a"), &Kind::Integer(5));
}

#[test]
fn json_files() {
    let map = parse(r#"{"port": 4567, "max_payload": 100, "tags": ["a", "b"], "m": {"x": true}}"#);
    assert_eq!(kind(&map, "port"), &Kind::Integer(4567));
    assert_eq!(kind(&map, "max_payload"), &Kind::Integer(100));
    assert_eq!(map.get("tags").unwrap().as_array().unwrap().len(), 2);
    assert_eq!(
        kind(map.get("m").unwrap().as_map().unwrap(), "x"),
        &Kind::Bool(true)
    );
}

#[test]
fn variables_are_block_scoped_then_from_the_environment() {
    let mut host = FakeHost::default();
    host.env.insert("PORT_FROM_ENV".into(), "4333".into());
    host.env.insert("MAP_FROM_ENV".into(), "{ a: 1 }".into());
    host.env.insert("LOOP_A".into(), "$LOOP_B".into());
    host.env.insert("LOOP_B".into(), "$LOOP_A".into());
    let map = parse_str(
        "size = 2KB\nmax_payload = $size\nouter { size = 3; inner { v = $size } }\n\
         port = $PORT_FROM_ENV\nm = $MAP_FROM_ENV\npassword = $2a$11$abcdefghijk\n",
        &host,
    )
    .unwrap();
    assert_eq!(kind(&map, "max_payload"), &Kind::Integer(2048));
    assert!(map.entry("size").unwrap().used_as_variable);
    assert!(!map.entry("max_payload").unwrap().used_as_variable);
    let inner = map
        .get("outer")
        .unwrap()
        .as_map()
        .unwrap()
        .get("inner")
        .unwrap();
    assert_eq!(kind(inner.as_map().unwrap(), "v"), &Kind::Integer(3));
    assert_eq!(kind(&map, "port"), &Kind::Integer(4333));
    assert_eq!(
        kind(map.get("m").unwrap().as_map().unwrap(), "a"),
        &Kind::Integer(1)
    );
    assert_eq!(kind(&map, "password"), &string("$2a$11$abcdefghijk"));
    // The value's position is where the reference is written.
    let port = map.get("port").unwrap();
    assert_eq!((port.pos.line, port.pos.column), (4, 8));

    let error = parse_str("x = $LOOP_A\n", &host).unwrap_err();
    assert!(error.to_string().contains("cycle"), "{error}");
    let error = parse_str("\n  x = $MISSING\n", &host).unwrap_err();
    assert_eq!(
        error.to_string(),
        "2:7: variable reference for 'MISSING' can not be found"
    );
}

#[test]
fn includes_merge_where_they_stand() {
    let mut host = FakeHost::default();
    host.files.insert(
        PathBuf::from("/etc/nats/main.conf"),
        "port: 1\ninclude ./auth.conf\ncluster { include 'cluster.conf' }\nmax = $limit\n".into(),
    );
    host.files.insert(
        PathBuf::from("/etc/nats/auth.conf"),
        "authorization { user: a, password: b }\nlimit = 5\n".into(),
    );
    host.files.insert(
        PathBuf::from("/etc/nats/cluster.conf"),
        "name: c1\nport: 6222\n".into(),
    );
    host.files.insert(
        PathBuf::from("/etc/nats/loop.conf"),
        "include loop.conf\n".into(),
    );
    host.files.insert(
        PathBuf::from("/etc/nats/bad.conf"),
        "port: 1\ninclude broken.conf\n".into(),
    );
    host.files
        .insert(PathBuf::from("/etc/nats/broken.conf"), "a: [\n".into());

    let map = parse_file_with(Path::new("/etc/nats/main.conf"), &host).unwrap();
    assert_eq!(kind(&map, "port"), &Kind::Integer(1));
    let auth = map.get("authorization").unwrap().as_map().unwrap();
    assert_eq!(kind(auth, "user"), &string("a"));
    let cluster = map.get("cluster").unwrap().as_map().unwrap();
    assert_eq!(kind(cluster, "name"), &string("c1"));
    assert_eq!(kind(&map, "max"), &Kind::Integer(5));
    // Values from an included file name that file.
    let user = auth.get("user").unwrap();
    assert_eq!(user.pos.file.as_deref(), Some("/etc/nats/auth.conf"));

    let error = parse_file_with(Path::new("/etc/nats/loop.conf"), &host).unwrap_err();
    assert!(error.to_string().contains("nested more than"), "{error}");
    let error = parse_file_with(Path::new("/etc/nats/bad.conf"), &host).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("/etc/nats/bad.conf:2:9: error parsing include file 'broken.conf'"),
        "{text}"
    );
    assert!(text.contains("/etc/nats/broken.conf:"), "{text}");
}

#[test]
fn errors_name_line_and_column() {
    let cases = [
        ("port: 4222 x\n", "1:12"),
        ("a: 1\nport:\n4222\n", "2:6"),
        ("a: 1\nb: \"open\n", "3:1"),
        ("m {\n  a: 1\n  b: [1,,2]\n}\n", "3:9"),
        ("x: 1\ny: 1.x\n", "2:6"),
        ("x: \"bad \\q escape\"\n", "1:10"),
        ("x: 2026-1\n", "1:10"),
        ("n: 99999999999999999999\n", "1:4"),
        ("dangling\n", "1:1"),
    ];
    for (text, at) in cases {
        let error = fails(text);
        let pos = error.pos().expect("position");
        assert_eq!(
            format!("{}:{}", pos.line, pos.column),
            at,
            "{text:?}: {error}"
        );
    }
}

#[test]
fn values_convert_with_positions_in_errors() {
    let map = parse("a: \"2s\"\nb: 5\nc: 0.5\nd: nope\ne: 70000\n");
    assert_eq!(map.get("a").unwrap().as_duration().unwrap().as_secs(), 2);
    assert_eq!(map.get("b").unwrap().as_seconds().unwrap().as_secs(), 5);
    assert_eq!(map.get("c").unwrap().as_seconds().unwrap().as_millis(), 500);
    let error = map.get("d").unwrap().as_duration().unwrap_err();
    assert_eq!(error.to_string(), "4:4: invalid duration \"nope\"");
    let error = map.get("e").unwrap().as_integer::<u16>().unwrap_err();
    assert_eq!(error.to_string(), "5:4: 70000 is out of range");
    let error = map.get("a").unwrap().as_int().unwrap_err();
    assert_eq!(error.to_string(), "1:4: expected an integer, got string");
}

#[test]
fn later_keys_replace_earlier_ones() {
    let map = parse("port: 1\nport: 2\n");
    assert_eq!(map.len(), 1);
    assert_eq!(kind(&map, "port"), &Kind::Integer(2));
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}
