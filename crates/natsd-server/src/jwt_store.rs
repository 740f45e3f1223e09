//! Where the account resolvers keep account JWTs: `<dir>/<account key>.jwt`, one file
//! per account. Reading (when the config is loaded, `-t` included) never writes; the
//! directory is created and preloads are stored when the server starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use natsd_auth::jwt::{self, Trust};
use serde_json::Value;

/// Which resolver, from `resolver:` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolverKind {
    #[default]
    Memory,
    Full,
    Cache,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolverOptions {
    pub kind: ResolverKind,
    /// Where `full` and `cache` keep account JWTs.
    pub dir: Option<PathBuf>,
    pub allow_delete: bool,
    /// Delete files rather than renaming them `<key>.jwt.deleted`.
    pub hard_delete: bool,
    /// Accounts the directory may hold; 0 is no limit.
    pub limit: usize,
    /// Read for the cache resolver, not enforced yet.
    pub ttl: Duration,
    /// `resolver_preload` tokens, stored in `dir` when the server starts.
    pub preload: Vec<String>,
}

/// `<dir>/<key>.jwt`, for a valid account key only (it becomes a file name).
pub(crate) fn jwt_path(dir: &Path, key: &str) -> Option<PathBuf> {
    natsd_auth::nkey::is_account_key(key).then(|| dir.join(format!("{key}.jwt")))
}

/// The account JWTs in `dir`: (file, token).
pub(crate) fn read_dir(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jwt") {
            found.push((path.clone(), std::fs::read_to_string(&path)?));
        }
    }
    found.sort();
    Ok(found)
}

/// `(jti, iat)`: which of two JWTs of one account is newer.
fn stamp(token: &str) -> Option<(String, i64)> {
    jwt::decode::<Value>(token)
        .ok()
        .map(|claims| (claims.jti, claims.iat))
}

/// Whether `existing` (a stored JWT) stands against `preload` of the same account: it is
/// the same JWT or a newer one, so the preload is not stored over it, as in nats-server.
fn stands_against(existing: &str, preload: &str) -> bool {
    match (stamp(existing), stamp(preload)) {
        (Some(old), Some(new)) => (!old.0.is_empty() && old.0 == new.0) || old.1 > new.1,
        _ => false,
    }
}

/// Stores a preload `token` unless the file holds the same JWT or a newer one.
fn save_if_newer(dir: &Path, key: &str, token: &str) -> std::io::Result<()> {
    let path = jwt_path(dir, key).ok_or_else(|| invalid_key(key))?;
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if stands_against(&existing, token) {
            return Ok(());
        }
    }
    write_private(&path, token)
}

pub(crate) fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(token.as_bytes())
}

/// Whether a new account (`path` not there yet) would go beyond `limit` accounts.
pub(crate) fn is_full(dir: &Path, path: &Path, limit: usize) -> bool {
    limit > 0 && !path.exists() && read_dir(dir).is_ok_and(|held| held.len() >= limit)
}

pub(crate) fn invalid_key(key: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("invalid public key {key:?}"),
    )
}

/// Puts in `trust` every account JWT `dir` holds (an absent directory holds none), except
/// those a preload of the same account replaces; writes nothing. Returns what was skipped
/// and why.
pub(crate) fn read_into(
    dir: &Path,
    preload: &[String],
    trust: &mut Trust,
    now: i64,
) -> std::io::Result<Vec<String>> {
    let stored = match read_dir(dir) {
        Ok(stored) => stored,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(error),
    };
    let preloaded = |token: &str| {
        let key = jwt::decode::<Value>(token).ok().map(|claims| claims.sub);
        preload.iter().any(|p| {
            jwt::decode::<Value>(p).ok().map(|claims| claims.sub) == key
                && !stands_against(token, p)
        })
    };
    let mut skipped = Vec::new();
    for (path, token) in stored {
        if preloaded(&token) {
            continue;
        }
        if let Err(error) = trust.add_account(&token, now) {
            skipped.push(format!("account JWT {} skipped: {error}", path.display()));
        }
    }
    Ok(skipped)
}

/// Creates the directory if needed and stores the preloads in it, when the server starts.
pub(crate) fn prepare(dir: &Path, preload: &[String]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for token in preload {
        if let Ok(claims) = jwt::decode::<Value>(token) {
            save_if_newer(dir, &claims.sub, token)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_missing_directory_creates_nothing() {
        let base = std::env::temp_dir().join(format!("natsd-store-{}", std::process::id()));
        let dir = base.join("jwts");
        let mut trust = Trust::default();
        let skipped = read_into(&dir, &[], &mut trust, 0).unwrap();
        assert!(skipped.is_empty());
        assert!(!dir.exists());
        assert!(!base.exists());
    }
}
