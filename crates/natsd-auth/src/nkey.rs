//! NKey authentication: the server sends a random nonce in INFO, the client signs it with
//! its seed and returns the signature (base64url, unpadded; standard base64 is accepted too)
//! with its public key.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;

/// Random bytes behind a nonce; nats-server uses 11, which encode to 15 characters.
const NONCE_BYTES: usize = 11;

/// A fresh nonce for one connection's INFO.
pub fn new_nonce() -> String {
    let mut raw = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Whether `signature` is `public_key`'s signature of `nonce`.
pub fn verify(public_key: &str, nonce: &str, signature: &str) -> bool {
    let Ok(key) = nkeys::KeyPair::from_public_key(public_key) else {
        return false;
    };
    let Some(sig) = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .or_else(|| STANDARD.decode(signature).ok())
    else {
        return false;
    };
    key.verify(nonce.as_bytes(), &sig).is_ok()
}

/// Whether `key` is a user public key (`U...`).
pub fn is_user_key(key: &str) -> bool {
    key.starts_with('U') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Whether `key` is a well-formed account public key (`A...`, checksum and all).
pub fn is_account_key(key: &str) -> bool {
    key.starts_with('A') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Whether `key` is a server public key (`N...`).
pub fn is_server_key(key: &str) -> bool {
    key.starts_with('N') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Whether `key` is a curve (xkey) public key (`X...`), as auth callout seals with.
pub fn is_curve_key(key: &str) -> bool {
    nkeys::XKey::from_public_key(key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_of_the_nonce_verify() {
        let user = nkeys::KeyPair::new_user();
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 15);
        let sig = user.sign(nonce.as_bytes()).unwrap_or_default();
        let public = user.public_key();
        assert!(is_user_key(&public));
        assert!(verify(&public, &nonce, &URL_SAFE_NO_PAD.encode(&sig)));
        assert!(verify(&public, &nonce, &STANDARD.encode(&sig)));
        assert!(!verify(
            &public,
            "another nonce",
            &URL_SAFE_NO_PAD.encode(&sig)
        ));
        let other = nkeys::KeyPair::new_user();
        assert!(!verify(
            &other.public_key(),
            &nonce,
            &URL_SAFE_NO_PAD.encode(&sig)
        ));
        assert!(!verify(&public, &nonce, "not base64 at all!"));
        assert!(!verify("UNOTAKEY", &nonce, &URL_SAFE_NO_PAD.encode(&sig)));
    }
}
