//! Decentralized-auth fixtures: an operator with a system account, accounts and users,
//! their JWTs signed with fresh NKeys, and `.creds` texts, shaped as `nsc` makes them
//! (every limit `-1` unless a test says otherwise).

use nkeys::KeyPair;
use serde_json::{json, Map, Value};

pub fn now_secs() -> i64 {
    natsd_auth::jwt::now_unix()
}

/// Sets every key of `extra` in `base`, merging objects one level deep (so that
/// `{"limits": {"conn": 1}}` keeps the other limits).
fn merged(mut base: Value, extra: &Value) -> Value {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            match (base.get_mut(key), value) {
                (Some(Value::Object(inner)), Value::Object(more)) => {
                    inner.extend(more.clone());
                }
                _ => {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
    }
    base
}

fn sign(claims: &Value, issuer: &KeyPair) -> String {
    natsd_auth::jwt::encode(claims, issuer).unwrap_or_default()
}

/// A JWT in the original (v1) format, as older `nsc` versions made them: `"alg":"ed25519"`,
/// the claims' `type` beside `nats` (the caller writes it so), the signature over the
/// claims part alone.
pub fn sign_v1(claims: &Value, issuer: &KeyPair) -> String {
    natsd_auth::jwt::encode_v1(claims, issuer).unwrap_or_default()
}

/// `jwt` with its signature replaced by a stranger's signature of the same header and
/// claims: well formed, naming its true issuer, so only a signature check refuses it.
pub fn forged(jwt: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (signed, _) = jwt.rsplit_once('.').unwrap_or_default();
    let signature = KeyPair::new_account()
        .sign(signed.as_bytes())
        .unwrap_or_default();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A trusted operator with its system account.
pub struct Operator {
    pub key: KeyPair,
    pub jwt: String,
    pub system: Account,
}

/// An account: its key and its JWT as the operator issued it.
pub struct Account {
    pub name: String,
    pub key: KeyPair,
    pub jwt: String,
}

impl Operator {
    pub fn new() -> Operator {
        let key = KeyPair::new_operator();
        let system_key = KeyPair::new_account();
        let jwt = sign(
            &json!({"iss": key.public_key(), "sub": key.public_key(), "iat": now_secs(),
                    "jti": unique(), "name": "OP",
                    "nats": {"type": "operator", "version": 2,
                             "system_account": system_key.public_key()}}),
            &key,
        );
        let mut operator = Operator {
            key,
            jwt,
            system: Account {
                name: "SYS".to_owned(),
                key: KeyPair::new_account(),
                jwt: String::new(),
            },
        };
        operator.system = operator.account_with_key("SYS", system_key, &json!({}));
        operator
    }

    /// A new account; `nats` is merged over the defaults.
    pub fn account(&self, name: &str, nats: &Value) -> Account {
        self.account_with_key(name, KeyPair::new_account(), nats)
    }

    /// An account JWT for an existing key: for updates.
    pub fn account_with_key(&self, name: &str, key: KeyPair, nats: &Value) -> Account {
        self.issue_account(name, key, nats, None)
    }

    /// An account whose JWT expires at `exp` (Unix seconds).
    pub fn account_until(&self, name: &str, nats: &Value, exp: i64) -> Account {
        self.issue_account(name, KeyPair::new_account(), nats, Some(exp))
    }

    fn issue_account(&self, name: &str, key: KeyPair, nats: &Value, exp: Option<i64>) -> Account {
        let defaults = json!({"type": "account", "version": 2,
            "limits": {"subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1,
                       "data": -1, "payload": -1, "wildcards": true}});
        let mut claims = json!({"iss": self.key.public_key(), "sub": key.public_key(),
            "iat": now_secs(), "jti": unique(), "name": name, "nats": merged(defaults, nats)});
        if let Some(exp) = exp {
            claims["exp"] = json!(exp);
        }
        Account {
            name: name.to_owned(),
            jwt: sign(&claims, &self.key),
            key,
        }
    }

    /// Config lines trusting this operator, with the memory resolver holding `accounts`
    /// and the system account.
    pub fn memory_config(&self, accounts: &[&Account]) -> String {
        self.resolver_config("resolver: MEMORY", accounts)
    }

    /// Config lines trusting this operator, with a `full` directory resolver in `dir`
    /// (`options` added to its block) preloaded with `accounts` and the system account.
    pub fn full_resolver_config(
        &self,
        dir: &std::path::Path,
        options: &str,
        accounts: &[&Account],
    ) -> String {
        let resolver = format!(
            "resolver {{ type: full, dir: \"{}\"{options} }}",
            dir.display()
        );
        self.resolver_config(&resolver, accounts)
    }

    fn resolver_config(&self, resolver: &str, accounts: &[&Account]) -> String {
        let mut preload = format!("  {}: {}\n", self.system.key.public_key(), self.system.jwt);
        for account in accounts {
            preload.push_str(&format!(
                "  {}: {}\n",
                account.key.public_key(),
                account.jwt
            ));
        }
        format!(
            "operator: {}\n{resolver}\nresolver_preload: {{\n{preload}}}\n",
            self.jwt
        )
    }
}

impl Default for Operator {
    fn default() -> Self {
        Operator::new()
    }
}

impl Account {
    /// A user JWT issued by the account itself; `nats` is merged over the defaults.
    pub fn user_jwt(&self, user: &KeyPair, nats: &Value, exp: Option<i64>) -> String {
        self.user_jwt_signed(&self.key, user, nats, exp)
    }

    /// A user JWT issued by `signer` (the account or one of its signing keys).
    pub fn user_jwt_signed(
        &self,
        signer: &KeyPair,
        user: &KeyPair,
        nats: &Value,
        exp: Option<i64>,
    ) -> String {
        let defaults = json!({"type": "user", "version": 2,
            "subs": -1, "data": -1, "payload": -1});
        self.raw_user_jwt(signer, user, merged(defaults, nats), exp)
    }

    /// A user JWT with exactly the `nats` claims given (plus type and issuer account), as
    /// users of a scoped signing key are issued.
    pub fn raw_user_jwt(
        &self,
        signer: &KeyPair,
        user: &KeyPair,
        nats: Value,
        exp: Option<i64>,
    ) -> String {
        let mut nats = merged(json!({"type": "user", "version": 2}), &nats);
        if signer.public_key() != self.key.public_key() {
            nats["issuer_account"] = json!(self.key.public_key());
        }
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(signer.public_key()));
        claims.insert("sub".into(), json!(user.public_key()));
        claims.insert("iat".into(), json!(now_secs()));
        claims.insert("jti".into(), json!(unique()));
        claims.insert("name".into(), json!("user"));
        claims.insert("nats".into(), nats);
        if let Some(exp) = exp {
            claims.insert("exp".into(), json!(exp));
        }
        sign(&Value::Object(claims), signer)
    }

    /// A `.creds` text for `user` with its JWT.
    pub fn creds(&self, user: &KeyPair, nats: &Value, exp: Option<i64>) -> String {
        creds(&self.user_jwt(user, nats, exp), user)
    }
}

/// The `.creds` file text for a user JWT and the user's seed.
pub fn creds(jwt: &str, user: &KeyPair) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap_or_default()
    )
}

/// A JWT id unique enough for one test run.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The JWT world of one differential script, from its `jwt:` lines:
///
/// ```text
/// jwt: account A {"limits": {"conn": 1}}    an account; claims merged over nsc's defaults
/// jwt: signer S A                           a signing key of account A
/// jwt: scoped S A {"sub": {"allow": [...]}} a scoped signing key of A with its template
/// jwt: user U A {"bearer_token": true}      a user issued by A (or `A/S`, by signer S)
/// jwt: activation T A B {"subject": "x.>"}  an activation issued by A (or a signer) to B
/// ```
///
/// In the JSON and in the script's other lines, `{{N}}` is N's public key, `{{N.jwt}}`
/// its JWT and `{{N.forged}}` that JWT with a stranger's signature ([`forged`]). Users of a
/// scoped key get exactly the claims written.
pub struct Fixture {
    pub operator: Operator,
    accounts: Vec<Account>,
    /// Name -> key, for every name declared.
    keys: Vec<(String, KeyPair)>,
    /// Name -> JWT, for accounts and users.
    jwts: Vec<(String, String)>,
}

impl Fixture {
    pub fn build(lines: &[String]) -> Result<Fixture, String> {
        let operator = Operator::new();
        let mut keys: Vec<(String, KeyPair)> = Vec::new();
        let mut parsed = Vec::new();
        for line in lines {
            let mut words = line.splitn(4, ' ');
            let (Some(kind), Some(name)) = (words.next(), words.next()) else {
                return Err(format!("cannot read jwt line {line:?}"));
            };
            let key = match kind {
                "account" | "signer" | "scoped" => KeyPair::new_account(),
                // An activation has no key of its own; its name only names its JWT.
                "user" | "activation" => KeyPair::new_user(),
                _ => return Err(format!("unknown jwt kind {kind:?}")),
            };
            keys.push((name.to_owned(), key));
            let rest: Vec<&str> = words.collect();
            parsed.push((kind.to_owned(), name.to_owned(), rest.join(" ")));
        }
        let mut fixture = Fixture {
            operator,
            accounts: Vec::new(),
            keys,
            jwts: Vec::new(),
        };
        let json_of = |fixture: &Fixture, text: &str| -> Result<Value, String> {
            if text.trim().is_empty() {
                return Ok(json!({}));
            }
            serde_json::from_str(&fixture.substitute(text)).map_err(|e| format!("{text}: {e}"))
        };
        // Activations first: account JWTs carry them in their imports.
        for (kind, name, rest) in &parsed {
            if kind != "activation" {
                continue;
            }
            let mut words = rest.splitn(3, ' ');
            let (Some(issuer), Some(holder)) = (words.next(), words.next()) else {
                return Err(format!("activation {name}: issuer and holder needed"));
            };
            let nats = merged(
                json!({"type": "activation", "version": 2, "kind": "stream"}),
                &json_of(&fixture, words.next().unwrap_or_default())?,
            );
            let issuer = fixture.key(issuer)?;
            let claims = json!({"iss": issuer.public_key(), "sub": fixture.key(holder)?.public_key(),
                "iat": now_secs(), "jti": unique(), "name": name, "nats": nats});
            fixture.jwts.push((name.clone(), sign(&claims, issuer)));
        }
        for (kind, name, rest) in &parsed {
            if kind != "account" {
                continue;
            }
            let mut nats = json_of(&fixture, rest)?;
            let mut signing_keys = Vec::new();
            for (kind, signer, rest) in &parsed {
                let (account, template) = rest.split_once(' ').unwrap_or((rest, ""));
                if account != name {
                    continue;
                }
                let key = fixture.key(signer)?.public_key();
                match kind.as_str() {
                    "signer" => signing_keys.push(json!(key)),
                    "scoped" => signing_keys.push(json!({"kind": "user_scope", "key": key,
                        "role": signer, "template": json_of(&fixture, template)?})),
                    _ => {}
                }
            }
            if !signing_keys.is_empty() {
                nats["signing_keys"] = Value::Array(signing_keys);
            }
            let key = KeyPair::from_seed(&fixture.key(name)?.seed().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            let account = fixture.operator.account_with_key(name, key, &nats);
            fixture.jwts.push((name.clone(), account.jwt.clone()));
            fixture.accounts.push(account);
        }
        for (kind, name, rest) in &parsed {
            if kind != "user" {
                continue;
            }
            let (issuer, claims) = rest.split_once(' ').unwrap_or((rest, ""));
            let (account_name, signer_name) = issuer.split_once('/').unwrap_or((issuer, ""));
            let account = fixture
                .accounts
                .iter()
                .find(|a| a.name == account_name)
                .ok_or_else(|| format!("unknown account {account_name:?}"))?;
            let user = fixture.key(name)?;
            let nats = json_of(&fixture, claims)?;
            let scoped = parsed
                .iter()
                .any(|(kind, n, _)| kind == "scoped" && n == signer_name);
            let jwt = match signer_name {
                "" => account.user_jwt(user, &nats, None),
                signer if scoped => account.raw_user_jwt(fixture.key(signer)?, user, nats, None),
                signer => account.user_jwt_signed(fixture.key(signer)?, user, &nats, None),
            };
            fixture.jwts.push((name.clone(), jwt));
        }
        Ok(fixture)
    }

    fn key(&self, name: &str) -> Result<&KeyPair, String> {
        self.keys
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k)
            .ok_or_else(|| format!("unknown jwt name {name:?}"))
    }

    /// Replaces `{{N.jwt}}`, `{{N.forged}}` and `{{N}}` for every declared name.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, jwt) in &self.jwts {
            out = out.replace(&format!("{{{{{name}.jwt}}}}"), jwt);
            let forged_marker = format!("{{{{{name}.forged}}}}");
            if out.contains(&forged_marker) {
                out = out.replace(&forged_marker, &forged(jwt));
            }
        }
        for (name, key) in &self.keys {
            out = out.replace(&format!("{{{{{name}}}}}"), &key.public_key());
        }
        out
    }

    /// Config lines: the operator, the memory resolver and every account.
    pub fn config(&self) -> String {
        let accounts: Vec<&Account> = self.accounts.iter().collect();
        self.operator.memory_config(&accounts)
    }
}
