//! The simple forms of client authentication: one user and password, one token, or a list
//! of users. Comparisons take the same time whatever the input, so a client cannot learn a
//! secret byte by byte from timing.

use crate::options::Authorization;

/// What a client presented in CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
}

/// Whether `auth` admits the client, and as which user (empty for a token).
pub fn authenticate(auth: &Authorization, creds: &Credentials) -> Option<String> {
    if let Some(token) = &auth.token {
        let given = creds.token.as_deref().unwrap_or_default();
        return constant_time_eq(token.as_bytes(), given.as_bytes()).then(String::new);
    }
    let user = creds.user.as_deref()?;
    let pass = creds.pass.as_deref().unwrap_or_default();
    let single = auth
        .user
        .as_deref()
        .map(|u| (u, auth.password.as_deref().unwrap_or_default()));
    let listed = auth
        .users
        .iter()
        .map(|u| (u.user.as_str(), u.password.as_str()));
    // Every candidate is compared, so the time taken does not reveal which user matched.
    let mut admitted = false;
    for (name, password) in single.into_iter().chain(listed) {
        admitted |= (name == user) & constant_time_eq(password.as_bytes(), pass.as_bytes());
    }
    admitted.then(|| user.to_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::User;

    fn creds(user: Option<&str>, pass: Option<&str>, token: Option<&str>) -> Credentials {
        Credentials {
            user: user.map(str::to_owned),
            pass: pass.map(str::to_owned),
            token: token.map(str::to_owned),
        }
    }

    #[test]
    fn users_and_tokens() {
        let auth = Authorization {
            user: Some("a".into()),
            password: Some("pa".into()),
            users: vec![User {
                user: "b".into(),
                password: "pb".into(),
            }],
            ..Authorization::default()
        };
        assert_eq!(
            authenticate(&auth, &creds(Some("a"), Some("pa"), None)).as_deref(),
            Some("a")
        );
        assert_eq!(
            authenticate(&auth, &creds(Some("b"), Some("pb"), None)).as_deref(),
            Some("b")
        );
        assert_eq!(
            authenticate(&auth, &creds(Some("b"), Some("pa"), None)),
            None
        );
        assert_eq!(
            authenticate(&auth, &creds(Some("a"), Some("pa2"), None)),
            None
        );
        assert_eq!(authenticate(&auth, &creds(None, None, Some("pa"))), None);
        let auth = Authorization {
            token: Some("secret".into()),
            ..Authorization::default()
        };
        assert_eq!(
            authenticate(&auth, &creds(None, None, Some("secret"))).as_deref(),
            Some("")
        );
        assert_eq!(
            authenticate(&auth, &creds(None, None, Some("secreT"))),
            None
        );
        assert_eq!(
            authenticate(&auth, &creds(None, None, Some("secret1"))),
            None
        );
        assert_eq!(authenticate(&auth, &creds(None, None, None)), None);
    }
}
