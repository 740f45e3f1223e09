//! Subject rules as nats-server applies them.
//!
//! Subjects are byte strings of tokens separated by `.`. A token is never empty. `*` and `>`
//! are wildcards only as whole tokens, and `>` only as the last token. Whitespace (space, tab,
//! CR, LF, FF) never appears in a token.

pub const SEPARATOR: u8 = b'.';
pub const SINGLE_WILDCARD: &[u8] = b"*";
pub const FULL_WILDCARD: &[u8] = b">";

/// Splits a subject into its tokens (empty tokens included, so callers can reject them).
pub fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> {
    subject.split(|&b| b == SEPARATOR)
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

/// A valid subject for subscriptions: wildcards allowed.
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut after_full_wildcard = false;
    for token in tokens(subject) {
        if token.is_empty() || after_full_wildcard || token.iter().copied().any(is_whitespace) {
            return false;
        }
        after_full_wildcard = token == FULL_WILDCARD;
    }
    true
}

/// A subject with no wildcard tokens and no empty tokens (whitespace is not checked, as in
/// nats-server's literal check used for pedantic publishes).
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    tokens(subject).all(|t| !t.is_empty() && t != SINGLE_WILDCARD && t != FULL_WILDCARD)
}

/// A valid subject to publish to: valid, and without wildcard tokens.
pub fn is_valid_publish_subject(subject: &[u8]) -> bool {
    is_valid_subject(subject) && !has_wildcard(subject)
}

/// Whether any token is a wildcard.
pub fn has_wildcard(subject: &[u8]) -> bool {
    tokens(subject).any(|t| t == SINGLE_WILDCARD || t == FULL_WILDCARD)
}

/// Whether the literal `subject` is matched by the (possibly wildcard) `pattern`.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut subject_tokens = tokens(subject);
    for p in tokens(pattern) {
        if p == FULL_WILDCARD {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(s) if p == SINGLE_WILDCARD || p == s => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

/// Whether every subject `narrow` matches is matched by `wide` too (both may hold
/// wildcards).
pub fn is_subset(narrow: &[u8], wide: &[u8]) -> bool {
    let mut narrow_tokens = tokens(narrow);
    for w in tokens(wide) {
        if w == FULL_WILDCARD {
            return narrow_tokens.next().is_some();
        }
        match narrow_tokens.next() {
            Some(n) if n != FULL_WILDCARD && (w == SINGLE_WILDCARD || w == n) => {}
            _ => return false,
        }
    }
    narrow_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_hold_where_every_match_of_one_is_a_match_of_the_other() {
        for (narrow, wide) in [
            ("a.b", "a.b"),
            ("a.b", "a.*"),
            ("a.*", "a.*"),
            ("a.*", "a.>"),
            ("a.b.>", "a.>"),
            ("a.*.c", "*.*.c"),
        ] {
            assert!(
                is_subset(narrow.as_bytes(), wide.as_bytes()),
                "{narrow} in {wide}"
            );
        }
        for (narrow, wide) in [
            ("a.*", "a.b"),
            ("a.>", "a.*"),
            ("a", "a.>"),
            (">", "a.>"),
            ("a.b.c", "a.*"),
            ("b.c", "a.c"),
        ] {
            assert!(
                !is_subset(narrow.as_bytes(), wide.as_bytes()),
                "{narrow} in {wide}"
            );
        }
    }

    #[test]
    fn validity_follows_nats_server() {
        for good in [
            "foo", "foo.bar", "*", ">", "foo.*", "foo.>", "*.*.>", "foo*", "f>o", "$SYS.x",
        ] {
            assert!(is_valid_subject(good.as_bytes()), "{good}");
        }
        for bad in [
            "",
            ".",
            "foo.",
            ".foo",
            "foo..bar",
            "foo.>.bar",
            ">.foo",
            "fo o",
            "a\tb",
            "a.\r",
        ] {
            assert!(!is_valid_subject(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn publish_subjects_are_literal() {
        assert!(is_valid_publish_subject(b"foo.bar"));
        assert!(is_valid_publish_subject(b"foo*.bar"));
        assert!(!is_valid_publish_subject(b"foo.*"));
        assert!(!is_valid_publish_subject(b"foo.>"));
        assert!(is_valid_literal_subject(b"a.b"));
        assert!(!is_valid_literal_subject(b"a..b"));
    }

    #[test]
    fn wildcard_matching() {
        assert!(matches(b"foo.*", b"foo.bar"));
        assert!(!matches(b"foo.*", b"foo.bar.baz"));
        assert!(matches(b"foo.>", b"foo.bar.baz"));
        assert!(!matches(b"foo.>", b"foo"));
        assert!(matches(b">", b"a"));
        assert!(matches(b"*.b", b"a.b"));
        assert!(!matches(b"a.b", b"a"));
        assert!(!matches(b"foo*", b"foox"));
    }
}
