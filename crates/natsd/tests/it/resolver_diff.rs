//! The full resolver's `$SYS` replies, natsd against the reference nats-server: both start
//! from the same operator and accounts (each with its own directory), take the same
//! requests from a system-account client, and must answer alike, `server` block aside.

use std::path::Path;
use std::time::Duration;

use natsd_testkit::jwt::{forged, now_secs, Account, Operator};
use natsd_testkit::process::ServerProcess;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// `dir` chooses the full resolver there; without it, the memory resolver.
fn config(operator: &Operator, account: &Account, dir: Option<&Path>) -> String {
    let resolver = dir.map_or_else(
        || "MEMORY".to_owned(),
        |dir| {
            format!(
                "{{ type: full, dir: \"{}\", allow_delete: true }}",
                dir.display()
            )
        },
    );
    format!(
        "host: 127.0.0.1\nport: -1\noperator: {}\nresolver: {resolver}\n\
         resolver_preload {{\n  {}: {}\n  {}: {}\n}}\n",
        operator.jwt,
        operator.system.key.public_key(),
        operator.system.jwt,
        account.key.public_key(),
        account.jwt,
    )
}

/// A request and how to compare its reply.
enum Compare {
    /// The JSON reply without its `server` block.
    Json,
    /// Only the error's code and account: decoding errors are worded by each JWT library.
    ErrorCode,
    /// The raw payload.
    Raw,
}

/// Sends every request in order and renders the replies for comparison.
async fn replies(url: String, creds: &str, requests: &[(String, String, Compare)]) -> Vec<String> {
    let client = async_nats::ConnectOptions::with_credentials(creds)
        .unwrap()
        .connect(url)
        .await
        .unwrap();
    let mut out = Vec::new();
    for (subject, body, compare) in requests {
        let reply =
            tokio::time::timeout(WAIT, client.request(subject.clone(), body.clone().into()))
                .await
                .unwrap()
                .unwrap();
        let rendered = match compare {
            Compare::Raw => String::from_utf8_lossy(&reply.payload).into_owned(),
            Compare::Json | Compare::ErrorCode => {
                let mut value: Value = serde_json::from_slice(&reply.payload).unwrap();
                if let Some(fields) = value.as_object_mut() {
                    fields.remove("server");
                }
                if let (Compare::ErrorCode, Some(error)) = (compare, value.get_mut("error")) {
                    if let Some(fields) = error.as_object_mut() {
                        fields.remove("description");
                    }
                }
                value.to_string()
            }
        };
        out.push(format!("{subject}: {rendered}"));
    }
    out
}

#[tokio::test]
async fn full_resolver_replies_match_the_reference() {
    let Some(reference) = natsd_testkit::process::reference_for_test() else {
        return;
    };
    let operator = Operator::new();
    let account = operator.account("A", &json!({}));
    let newcomer = operator.account("B", &json!({}));
    let key = |a: &Account| a.key.public_key();
    let same = |a: &Account| nkeys::KeyPair::from_seed(&a.key.seed().unwrap()).unwrap();
    let renewed = operator.account_with_key("A", same(&account), &json!({"limits": {"subs": 10}}));
    let user_jwt = account.user_jwt(&nkeys::KeyPair::new_user(), &json!({}), None);
    let delete = |signer: &nkeys::KeyPair| {
        natsd_auth::jwt::encode(
            &json!({"iss": signer.public_key(), "sub": signer.public_key(), "iat": now_secs(),
                    "nats": {"type": "generic", "version": 2, "accounts": [key(&newcomer)]}}),
            signer,
        )
        .unwrap()
    };
    let update = |a: &Account| format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", key(a));
    let requests = vec![
        (update(&account), renewed.jwt.clone(), Compare::Json),
        (update(&newcomer), renewed.jwt.clone(), Compare::Json),
        (update(&account), "garbage".to_owned(), Compare::ErrorCode),
        (update(&account), forged(&renewed.jwt), Compare::ErrorCode),
        (update(&account), user_jwt, Compare::ErrorCode),
        (
            "$SYS.REQ.CLAIMS.UPDATE".to_owned(),
            newcomer.jwt.clone(),
            Compare::Json,
        ),
        (
            "$SYS.REQ.CLAIMS.LIST".to_owned(),
            String::new(),
            Compare::Json,
        ),
        (
            format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP", key(&account)),
            String::new(),
            Compare::Raw,
        ),
        (
            "$SYS.REQ.CLAIMS.DELETE".to_owned(),
            delete(&nkeys::KeyPair::new_operator()),
            Compare::Json,
        ),
        (
            "$SYS.REQ.CLAIMS.DELETE".to_owned(),
            delete(&operator.key),
            Compare::Json,
        ),
        (
            "$SYS.REQ.CLAIMS.LIST".to_owned(),
            String::new(),
            Compare::Json,
        ),
    ];
    let (theirs, ours) = run_both(&reference, &operator, &account, true, &requests).await;
    assert_eq!(ours, theirs);
}

#[tokio::test]
async fn memory_resolver_replies_match_the_reference() {
    let Some(reference) = natsd_testkit::process::reference_for_test() else {
        return;
    };
    let operator = Operator::new();
    let account = operator.account("A", &json!({}));
    let same = nkeys::KeyPair::from_seed(&account.key.seed().unwrap()).unwrap();
    let renewed = operator.account_with_key("A", same, &json!({"limits": {"subs": 10}}));
    let other = operator.account("B", &json!({}));
    let update = format!(
        "$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE",
        account.key.public_key()
    );
    let requests = vec![
        // Nobody of account A has connected: it is not loaded, the update is skipped.
        (update.clone(), renewed.jwt.clone(), Compare::Json),
        (update.clone(), String::new(), Compare::Json),
        (update.clone(), other.jwt.clone(), Compare::Json),
        (update.clone(), forged(&renewed.jwt), Compare::ErrorCode),
        (update, "garbage".to_owned(), Compare::ErrorCode),
    ];
    let (theirs, ours) = run_both(&reference, &operator, &account, false, &requests).await;
    assert_eq!(ours, theirs);
}

/// Runs the requests against the reference, then natsd, each from the same config (with
/// its own directory for the full resolver); returns (reference, natsd) replies.
async fn run_both(
    reference: &Path,
    operator: &Operator,
    account: &Account,
    full: bool,
    requests: &[(String, String, Compare)],
) -> (Vec<String>, Vec<String>) {
    let creds = operator
        .system
        .creds(&nkeys::KeyPair::new_user(), &json!({}), None);
    let base =
        std::env::temp_dir().join(format!("natsd-resolver-diff-{}-{full}", std::process::id()));
    let (theirs_dir, ours_dir) = (base.join("reference"), base.join("natsd"));
    std::fs::create_dir_all(&base).unwrap();
    let config_file = base.join("reference.conf");
    let dir = |d: &Path| full.then(|| d.to_path_buf());
    std::fs::write(
        &config_file,
        config(operator, account, dir(&theirs_dir).as_deref()),
    )
    .unwrap();
    let args = vec!["-c".to_owned(), config_file.display().to_string()];
    let program = reference.to_path_buf();
    let process = tokio::task::spawn_blocking(move || ServerProcess::start(&program, &args))
        .await
        .unwrap()
        .unwrap();
    let theirs = replies(format!("nats://{}", process.addr), &creds, requests).await;
    let ours_server = natsd_testkit::start(natsd_testkit::options_from_config(&config(
        operator,
        account,
        dir(&ours_dir).as_deref(),
    )))
    .await
    .unwrap();
    let ours = replies(ours_server.client_url(), &creds, requests).await;
    ours_server.shutdown().await;
    drop(process);
    let _ = std::fs::remove_dir_all(&base);
    (theirs, ours)
}
