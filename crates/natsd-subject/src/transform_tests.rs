use super::*;

fn map(source: &str, destination: &str, subject: &str) -> String {
    let transform = SubjectTransform::new(source, destination).expect("a valid transform");
    let tokens: Vec<&[u8]> = subject.split('.').map(str::as_bytes).collect();
    String::from_utf8(transform.apply(&tokens, &mut || 12)).expect("utf-8")
}

fn error(source: &str, destination: &str) -> String {
    SubjectTransform::new(source, destination)
        .expect_err("an invalid transform")
        .to_string()
}

#[test]
fn wildcards_move_tokens_in_both_spellings() {
    assert_eq!(map("foo.*.*", "bar.$2.$1", "foo.a.b"), "bar.b.a");
    assert_eq!(
        map(
            "foo.*.*",
            "bar.{{wildcard(2)}}.{{ Wildcard( 1 ) }}",
            "foo.a.b"
        ),
        "bar.b.a"
    );
    assert_eq!(map("foo.*", "$SYS.$1", "foo.a"), "$SYS.a");
    assert_eq!(map("foo", "bar", "foo"), "bar");
}

#[test]
fn a_final_full_wildcard_carries_the_rest() {
    assert_eq!(map("foo.>", "bar.>", "foo.a.b.c"), "bar.a.b.c");
    assert_eq!(map("foo.*.>", "bar.$1.baz.>", "foo.x.y.z"), "bar.x.baz.y.z");
    assert_eq!(map(">", "all.>", "a.b"), "all.a.b");
}

#[test]
fn partitions_hash_with_fnv1a() {
    // FNV-1a of "a" is 0xe40c292c, which is 5 modulo 7.
    assert_eq!(map("foo.*", "p.{{partition(7,1)}}", "foo.a"), "p.5");
    assert_eq!(map("foo.*", "p.{{partition(0,1)}}", "foo.a"), "p.0");
    // Without token numbers the whole subject is hashed; the same subject, the same bucket.
    let first = map("foo.*", "p.{{partition(3)}}.$1", "foo.a");
    assert_eq!(first, map("foo.*", "p.{{partition(3)}}.$1", "foo.a"));
    assert!(["p.0.a", "p.1.a", "p.2.a"].contains(&first.as_str()));
}

#[test]
fn token_functions_cut_as_nats_server_does() {
    let one = |function: &str, subject: &str| map("t.*", function, subject);
    assert_eq!(one("{{splitFromLeft(1,3)}}", "t.abcdef"), "abc.def");
    assert_eq!(one("{{SplitFromRight(1,2)}}", "t.abcdef"), "abcd.ef");
    assert_eq!(one("{{splitFromLeft(1,9)}}", "t.abc"), "abc");
    assert_eq!(one("{{sliceFromLeft(1,2)}}", "t.abcde"), "ab.cd.e");
    assert_eq!(one("{{sliceFromRight(1,2)}}", "t.abcde"), "a.bc.de");
    assert_eq!(one("{{sliceFromRight(1,2)}}", "t.abcd"), "ab.cd");
    assert_eq!(one("{{left(1,2)}}", "t.abcde"), "ab");
    assert_eq!(one("{{right(1,2)}}", "t.abcde"), "de");
    assert_eq!(one("{{left(1,9)}}", "t.abcde"), "abcde");
    assert_eq!(one("{{split(1,-)}}", "t.-a--b-"), "a.b");
    assert_eq!(one("{{split(1,-)}}", "t.a-b-c"), "a.b.c");
    assert_eq!(one("{{split(1,)}}", "t.abc"), "a.b.c");
    assert_eq!(one("r.{{random(5)}}", "t.x"), "r.2");
    assert_eq!(one("r.{{random(0)}}", "t.x"), "r.0");
}

#[test]
fn bad_destinations_are_refused_in_nats_server_words() {
    assert_eq!(
        error("a.*", "b.{{wildcard(2)}}"),
        "invalid mapping destination: wildcard index out of range in {{wildcard(2)}}: [2]"
    );
    assert_eq!(
        error("a", "b.{{wildcard(1)}}"),
        "invalid mapping destination: wildcard index out of range in {{wildcard(1)}}"
    );
    assert_eq!(
        error("a.*", "b.{{foo(1)}}"),
        "invalid mapping destination: unknown function in {{foo(1)}}"
    );
    assert_eq!(error("a.>", "b.*"), "invalid subject");
    assert_eq!(error("a.*", "b.>"), "invalid subject");
    assert_eq!(
        error("a.*", "b..c"),
        "invalid mapping destination: invalid transform"
    );
    assert_eq!(
        error("a.*", "b.c d"),
        "invalid mapping destination: invalid transform"
    );
    assert_eq!(
        error("a.*", "{{wildcard()}}"),
        "invalid mapping destination: not enough arguments passed to the function in {{wildcard()}}"
    );
    assert_eq!(
        error("a.*", "{{wildcard(1,2)}}"),
        "invalid mapping destination: too many arguments passed to the function in {{wildcard(1,2)}}"
    );
    assert_eq!(
        error("a.*", "{{left(1)}}"),
        "invalid mapping destination: not enough arguments passed to the function in {{left(1)}}"
    );
    assert_eq!(
        error("a.*", "{{left(x,1)}}"),
        "invalid mapping destination: function argument is invalid or in the wrong format in {{left(x,1)}}"
    );
    assert_eq!(
        error("a.*", "{{split(1,a b)}}"),
        "invalid mapping destination: function argument is invalid or in the wrong format in {{split(1,a b)}}"
    );
    assert_eq!(
        error("a.*", "{{partition(3,2)}}"),
        "invalid mapping destination: wildcard index out of range in {{partition(3,2)}}: [2]"
    );
    assert_eq!(
        error("a.*", "{{random()}}"),
        "invalid mapping destination: function argument is invalid or in the wrong format in {{random()}}"
    );
}

#[test]
fn a_literal_source_takes_only_partition_and_random() {
    assert_eq!(map("a", "b.{{random(3)}}", "a"), "b.0");
    // nats-server hashes the subject tokens it was given; a literal source is given none.
    // FNV-1a of nothing is 0x811c9dc5, which is 2 modulo 7.
    let literal = SubjectTransform::new("a", "b.{{partition(7)}}").expect("valid");
    assert_eq!(literal.apply(&[], &mut || 0), b"b.2");
    assert_eq!(
        error("a", "b.$1"),
        "invalid mapping destination: wildcard index out of range in $1"
    );
}

#[test]
fn identity_destinations_number_the_wildcards() {
    assert_eq!(identity_destination("a.*.b.*.>"), "a.$1.b.$2.>");
    assert_eq!(
        map("a.*.*", &identity_destination("a.*.*"), "a.x.y"),
        "a.x.y"
    );
}

proptest::proptest! {
    /// Functions that only cut a token up keep its bytes, in order, separators aside.
    #[test]
    fn cutting_a_token_keeps_its_bytes(token in "[a-z0-9]{1,20}", n in 0i32..25) {
        for function in ["splitFromLeft", "splitFromRight", "sliceFromLeft", "sliceFromRight"] {
            let out = map("t.*", &format!("{{{{{function}(1,{n})}}}}"), &format!("t.{token}"));
            proptest::prop_assert_eq!(out.replace('.', ""), token.clone());
            proptest::prop_assert!(!out.contains(".."));
        }
    }
}
