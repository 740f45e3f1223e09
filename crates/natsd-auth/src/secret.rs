//! Passwords and tokens as nats-server compares them: a configured value that looks like a
//! bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`) is checked with bcrypt, anything else is
//! compared byte for byte in constant time.

/// Whether `configured` is a bcrypt hash rather than a plain secret.
pub fn is_bcrypt(configured: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|prefix| configured.starts_with(prefix))
}

/// Whether the secret a client presented matches the configured one.
pub fn matches(configured: &str, presented: &str) -> bool {
    if is_bcrypt(configured) {
        return bcrypt::verify(presented, configured).unwrap_or(false);
    }
    constant_time_eq(configured.as_bytes(), presented.as_bytes())
}

/// Compares every byte whatever the input, so timing does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_bcrypt_secrets() {
        assert!(matches("s3cret", "s3cret"));
        assert!(!matches("s3cret", "s3cre"));
        assert!(!matches("s3cret", "s3cret!"));
        assert!(!matches("", "x"));
        // A low cost keeps the test fast; the format is what nats-server's users write.
        let hash = bcrypt::hash("pass", 4).unwrap_or_default();
        assert!(is_bcrypt(&hash));
        assert!(matches(&hash, "pass"));
        assert!(!matches(&hash, "pass2"));
        assert!(!matches("$2a$11$broken", "pass"));
    }
}
