//! The Python (nats-py) and JavaScript (nats.js) client suites in `tests/clients`, run
//! against the built binary. They need `pip install nats-py` and `npm install` in
//! `tests/clients/js`; without them the test is skipped, unless `NATSD_REQUIRE_CLIENTS` is
//! set (as CI does), which makes a missing client a failure.

use std::path::Path;
use std::process::Command;

#[test]
fn python_and_javascript_clients_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let has_python = Command::new("python3")
        .args(["-c", "import nats"])
        .status()
        .is_ok_and(|s| s.success());
    let has_node = root.join("tests/clients/js/node_modules/nats").is_dir()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !(has_python && has_node) {
        assert!(
            std::env::var_os("NATSD_REQUIRE_CLIENTS").is_none(),
            "client libraries missing (python nats: {has_python}, node nats: {has_node})"
        );
        eprintln!("skipping: install nats-py and run npm install in tests/clients/js");
        return;
    }
    let output = Command::new("bash")
        .arg(root.join("tests/clients/run.sh"))
        .arg(env!("CARGO_BIN_EXE_natsd"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "client suites failed:\n{text}");
    assert_eq!(text.matches("11 passed, 0 failed").count(), 2, "{text}");
}

/// `tests/clients/python/test_auth.py`: user/password, token, NKeys, `.creds`, permission
/// errors and TLS through nats-py, each against a server the script starts from a config file.
#[test]
fn python_client_authenticates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let has_python = Command::new("python3")
        .args(["-c", "import nats, nkeys"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_python {
        assert!(
            std::env::var_os("NATSD_REQUIRE_CLIENTS").is_none(),
            "python packages nats-py and nkeys missing"
        );
        eprintln!("skipping: pip install nats-py nkeys");
        return;
    }
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    let tls_dir = std::env::temp_dir().join(format!("natsd-py-tls-{}", std::process::id()));
    natsd_testkit::certs::TestCerts::generate(&tls_dir).unwrap();
    let jwt_dir = std::env::temp_dir().join(format!("natsd-py-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&jwt_dir).unwrap();
    let operator = natsd_testkit::jwt::Operator::new();
    let account = operator.account("A", &serde_json::json!({}));
    let user = nkeys::KeyPair::new_user();
    let stranger = natsd_testkit::jwt::Operator::new().account("X", &serde_json::json!({}));
    std::fs::write(
        jwt_dir.join("operator.conf"),
        operator.memory_config(&[&account]),
    )
    .unwrap();
    let creds = account.creds(&user, &serde_json::json!({}), None);
    std::fs::write(jwt_dir.join("user.creds"), creds).unwrap();
    let foreign = stranger.creds(&user, &serde_json::json!({}), None);
    std::fs::write(jwt_dir.join("stranger.creds"), foreign).unwrap();
    let output = Command::new("python3")
        .arg(root.join("tests/clients/python/test_auth.py"))
        .env("NATSD_BIN", env!("CARGO_BIN_EXE_natsd"))
        .env("NATSD_TEST_NKEY_SEED", seed)
        .env("NATSD_TEST_TLS_DIR", &tls_dir)
        .env("NATSD_TEST_JWT_DIR", &jwt_dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&tls_dir);
    let _ = std::fs::remove_dir_all(&jwt_dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "python auth checks failed:\n{text}"
    );
    assert!(text.contains("6 passed, 0 failed"), "{text}");
}
