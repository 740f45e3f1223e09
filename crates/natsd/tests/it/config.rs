//! The binary started from config files the way client test harnesses start nats-server:
//! `-c`, `-t`, the ports file, monitoring, reload on SIGHUP, log rotation.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use natsd_testkit::http::{get, get_json};
use natsd_testkit::process::ServerProcess;
use natsd_testkit::{wait_for, RawConn};

const WAIT: Duration = Duration::from_secs(10);

fn natsd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_natsd"))
}

/// A fresh directory for one test's files.
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natsd-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start_with(config: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["-c".to_owned(), config.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::start(natsd(), &args).unwrap()
}

/// The ports file the server with `pid` wrote into `dir`.
fn ports(dir: &Path, pid: u32) -> serde_json::Value {
    let path = dir.join(format!("natsd_{pid}.ports"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn addr_of(url: &serde_json::Value, scheme: &str) -> SocketAddr {
    let text = url.as_str().unwrap();
    text.strip_prefix(scheme).unwrap().parse().unwrap()
}

fn harness_config(dir: &Path) -> PathBuf {
    let config = dir.join("server.conf");
    std::fs::write(
        &config,
        format!(
            "host: \"127.0.0.1\"\nport: -1\nhttp: \"127.0.0.1:-1\"\nports_file_dir: \"{}\"\n\
             leafnodes {{ listen: \"127.0.0.1:-1\" }}\nserver_tags [ id:XYZ ]\n\
             websocket {{ port: -1, no_tls: true }}\n",
            dir.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn starts_like_a_client_harness_starts_nats_server() {
    let dir = test_dir("harness");
    let mut server = start_with(&harness_config(&dir), &[]);
    let log = server.drain_log();
    assert!(log
        .iter()
        .any(|l| l.contains("[INF] Listening for client connections on 127.0.0.1:")));
    assert!(log.iter().any(|l| l.contains("[INF] Server is ready")));
    for block in ["leafnodes", "websocket"] {
        assert!(
            log.iter()
                .any(|l| l.contains("[WRN]") && l.contains(&format!("'{block}'"))),
            "the unserved {block} block is named: {log:?}"
        );
    }

    let ports = ports(&dir, server.pid());
    let nats = addr_of(&ports["nats"][0], "nats://");
    assert_eq!(nats, server.addr);
    let monitoring = addr_of(&ports["monitoring"][0], "http://");

    let client = async_nats::connect(format!("nats://{nats}")).await.unwrap();
    let mut sub = client.subscribe("harness.>").await.unwrap();
    client.publish("harness.a", "hi".into()).await.unwrap();
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"hi");

    let varz = get_json(monitoring, "/varz").await.unwrap();
    assert_eq!(varz["port"], nats.port());
    assert_eq!(varz["tags"], serde_json::json!(["id:XYZ"]));
    assert_eq!(varz["version"], "2.15.1");
    let (status, body) = get(monitoring, "/healthz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    let (status, index) = get(monitoring, "/").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        index.contains("/varz") && index.contains("/connz"),
        "{index}"
    );

    let pid = server.pid().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert_eq!(server.wait_exit(WAIT).unwrap(), Some(0));
    assert!(
        !dir.join(format!("natsd_{pid}.ports")).exists(),
        "ports file removed on exit"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn flags_work_as_harnesses_pass_them() {
    let dir = test_dir("flags");
    let config = dir.join("server.conf");
    std::fs::write(&config, "port: 4999\nmax_payload: 1000\n").unwrap();
    // Flags override the file: -p -1 instead of 4999, and the monitoring port turned off.
    let server = start_with(
        &config,
        &[
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-m",
            "0",
            "--max_payload",
            "2000",
        ],
    );
    assert_ne!(server.addr.port(), 4999);
    let (_conn, info) = RawConn::connect(server.addr).await.unwrap();
    assert_eq!(info["max_payload"], 2000);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `natsd -t -c <file>` in the file's directory.
fn check_config(file: &Path) -> std::process::Output {
    check_config_with(natsd(), file)
}

/// `<program> -t -c <file>` in the file's directory.
fn check_config_with(program: &Path, file: &Path) -> std::process::Output {
    Command::new(program)
        .current_dir(file.parent().unwrap())
        .args(["-t", "-c"])
        .arg(file.file_name().unwrap())
        .output()
        .unwrap()
}

#[test]
fn test_flag_checks_the_file_and_exits() {
    let dir = test_dir("check");
    let good = dir.join("good.conf");
    std::fs::write(&good, "port: 4222\nmax_payload: 1MB\n").unwrap();
    let output = check_config(&good);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("is valid (sha256:"), "{stdout}");

    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "port: 4222\nmax_payload: 1MB\n  bogus_key: 1\n").unwrap();
    let output = check_config(&bad);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.conf:3:3: unknown field \"bogus_key\""),
        "{stderr}"
    );
    assert!(stderr.contains("[FTL]"), "{stderr}");

    // A warning (a duration as plain seconds) fails the check, as in nats-server.
    let warned = dir.join("warned.conf");
    std::fs::write(&warned, "ping_interval: 5\n").unwrap();
    assert!(!check_config(&warned).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every file of the syntax corpus is accepted, and every malformed one refused, by natsd
/// and the reference alike.
#[test]
fn config_check_agrees_with_the_reference() {
    let Some(reference) = natsd_testkit::process::reference_for_test() else {
        return;
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../natsd-conf/tests/conf");
    let mut checked = 0;
    for (kind, valid) in [("valid", true), ("invalid", false)] {
        for entry in std::fs::read_dir(corpus.join(kind)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "conf") {
                continue;
            }
            let ours = check_config(&path);
            let theirs = check_config_with(&reference, &path);
            assert_eq!(
                ours.status.success(),
                valid,
                "natsd on {}: {}",
                path.display(),
                String::from_utf8_lossy(&ours.stderr)
            );
            assert_eq!(
                theirs.status.success(),
                valid,
                "nats-server on {}: {}",
                path.display(),
                String::from_utf8_lossy(&theirs.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} files");
}

#[tokio::test]
async fn reload_applies_limits_users_and_logging_without_dropping_clients() {
    let dir = test_dir("reload");
    let config = dir.join("server.conf");
    let write = |max_payload: usize, debug: bool, users: &str, port: &str| {
        std::fs::write(
            &config,
            format!(
                "host: 127.0.0.1\nport: {port}\nmax_payload: {max_payload}\ndebug: {debug}\n\
                 authorization {{ users: [ {users} ] }}\n"
            ),
        )
        .unwrap();
    };
    write(
        1000,
        false,
        "{user: alice, password: a}, {user: bob, password: b}",
        "-1",
    );
    let mut server = start_with(&config, &[]);
    let url = format!("nats://{}", server.addr);
    let alice = async_nats::ConnectOptions::with_user_and_password("alice".into(), "a".into())
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(alice.server_info().max_payload, 1000);
    let (mut bob, _) = RawConn::connect(server.addr).await.unwrap();
    bob.send("CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"b\"}\r\nPING\r\n")
        .await
        .unwrap();
    bob.expect("PONG\r\n").await.unwrap();

    // Reload: a larger payload limit, debug logging, and bob removed.
    write(2000, true, "{user: alice, password: a}", "-1");
    let pid = server.pid().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    bob.expect("-ERR 'Authorization Violation'\r\n")
        .await
        .unwrap();
    bob.expect_closed().await.unwrap();

    // Alice stays connected and may now publish 1500 bytes; new clients see the new limit.
    let mut sub = alice.subscribe("big").await.unwrap();
    alice.flush().await.unwrap();
    let (mut raw, info) = RawConn::connect(server.addr).await.unwrap();
    assert_eq!(info["max_payload"], 2000);
    let payload = "x".repeat(1500);
    raw.send(&format!(
        "CONNECT {{\"verbose\":false,\"user\":\"alice\",\"pass\":\"a\"}}\r\nPUB big 1500\r\n{payload}\r\nPING\r\n"
    ))
    .await
    .unwrap();
    raw.expect("PONG\r\n").await.unwrap();
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.payload.len(), 1500);

    let mut log = Vec::new();
    wait_for(WAIT, || {
        log.extend(server.drain_log());
        log.iter()
            .any(|l| l.contains("Reloaded server configuration"))
    })
    .await
    .unwrap();
    assert!(
        log.iter()
            .any(|l| l.contains("Reloaded: max_payload = 2000")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("Reloaded: debug = true")),
        "{log:?}"
    );

    // A change that cannot be reloaded is refused and logged; the server keeps serving.
    write(2000, true, "{user: alice, password: a}", "4998");
    let sent = Command::new(natsd())
        .arg("--signal")
        .arg(format!("reload={pid}"))
        .output()
        .unwrap();
    assert!(sent.status.success());
    wait_for(WAIT, || {
        log.extend(server.drain_log());
        log.iter()
            .any(|l| l.contains("Failed to reload server configuration"))
    })
    .await
    .unwrap();
    let refused = log.iter().find(|l| l.contains("Failed to reload")).unwrap();
    assert!(
        refused.contains("[ERR]") && refused.contains("Port"),
        "{refused}"
    );
    alice.publish("big", "still here".into()).await.unwrap();
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"still here");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn log_file_rotates_at_the_size_limit() {
    let dir = test_dir("rotate");
    let log_file = dir.join("natsd.log");
    let config = dir.join("server.conf");
    std::fs::write(
        &config,
        format!(
            "host: 127.0.0.1\nport: -1\nlog_file: \"{}\"\nlog_size_limit: 2KB\ntrace: true\n",
            log_file.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(natsd())
        .arg("-c")
        .arg(&config)
        .spawn()
        .unwrap();
    let rotated = async {
        let text = natsd_testkit::process::wait_for_ready_log(&log_file, WAIT).await?;
        let addr = natsd_testkit::process::listening_addr(&text)?;
        let (mut conn, _) = RawConn::connect(addr).await?;
        conn.send("CONNECT {\"verbose\":false}\r\n").await?;
        // Every traced op is a log line; enough of them pass the limit several times.
        for _ in 0..100 {
            conn.send("PING\r\n").await?;
            conn.expect("PONG\r\n").await?;
        }
        wait_for(WAIT, || {
            std::fs::read_dir(&dir).is_ok_and(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("natsd.log."))
                    .count()
                    >= 2
            })
        })
        .await
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    rotated.unwrap();
    let current = std::fs::metadata(&log_file).unwrap().len();
    assert!(current < 4096, "current log is {current} bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What logrotate does: move the file away, then ask the server to reopen it.
#[tokio::test]
async fn reopen_signal_starts_a_new_log_file() {
    let dir = test_dir("reopen");
    let log_file = dir.join("natsd.log");
    let mut child = Command::new(natsd())
        .args(["-a", "127.0.0.1", "-p", "-1", "-l"])
        .arg(&log_file)
        .spawn()
        .unwrap();
    let reopened = async {
        natsd_testkit::process::wait_for_ready_log(&log_file, WAIT).await?;
        std::fs::rename(&log_file, dir.join("natsd.log.1"))?;
        let sent = Command::new(natsd())
            .arg("--signal")
            .arg(format!("reopen={}", child.id()))
            .output()?;
        anyhow::ensure!(sent.status.success(), "--signal reopen failed");
        wait_for(WAIT, || {
            std::fs::read_to_string(&log_file).is_ok_and(|t| t.contains("File log re-opened"))
        })
        .await
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    reopened.unwrap();
    let old = std::fs::read_to_string(dir.join("natsd.log.1")).unwrap();
    assert!(old.contains("Server is ready"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `-t` only reads: a directory resolver's directory is neither created nor given the
/// preloaded accounts; starting the server does both.
#[tokio::test]
async fn checking_a_config_writes_no_resolver_files() {
    let dir = test_dir("check-resolver");
    let operator = natsd_testkit::jwt::Operator::new();
    let jwts = dir.join("jwts");
    let config = dir.join("operator.conf");
    std::fs::write(&config, operator.full_resolver_config(&jwts, "", &[])).unwrap();
    let output = check_config(&config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!jwts.exists(), "the check created the resolver directory");

    let server = start_with(&config, &["-a", "127.0.0.1", "-p", "-1"]);
    let stored = jwts.join(format!("{}.jwt", operator.system.key.public_key()));
    wait_for(WAIT, || stored.exists()).await.unwrap();
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The trace log shows each message's payload after its line, as nats-server writes it:
/// quoted as Go quotes it, cut at `max_traced_msg_len`, or only the headers with
/// `trace_headers`. Compared line for line with the reference when it is at hand.
#[tokio::test]
async fn the_trace_log_shows_payloads_as_nats_server_does() {
    for (name, settings) in [
        ("payloads", "trace: true\nmax_traced_msg_len: 4\n"),
        ("headers", "trace_headers: true\n"),
    ] {
        let ours = traced_lines(natsd(), &format!("ours-{name}"), settings).await;
        assert!(
            ours.iter().any(|l| l.contains("MSG_PAYLOAD: [")),
            "{ours:#?}"
        );
        if let Some(reference) = natsd_testkit::process::reference_for_test() {
            let theirs = traced_lines(&reference, &format!("theirs-{name}"), settings).await;
            assert_eq!(ours, theirs);
        }
    }
}

/// The trace lines (after `cid:N - `) a server started with `settings` logs for a client
/// that subscribes, then publishes with and without headers and a reply.
async fn traced_lines(program: &Path, name: &str, settings: &str) -> Vec<String> {
    let dir = test_dir(name);
    let log_file = dir.join("server.log");
    let config = dir.join("server.conf");
    std::fs::write(
        &config,
        format!(
            "host: 127.0.0.1\nport: -1\nlog_file: \"{}\"\n{settings}",
            log_file.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(program)
        .arg("-c")
        .arg(&config)
        .spawn()
        .unwrap();
    let lines = traced_exchange(&log_file).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    lines.unwrap()
}

async fn traced_exchange(log_file: &Path) -> anyhow::Result<Vec<String>> {
    let text = natsd_testkit::process::wait_for_ready_log(log_file, WAIT).await?;
    let addr = natsd_testkit::process::listening_addr(&text)?;
    let (mut conn, _) = RawConn::connect(addr).await?;
    conn.send(
        "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\nPUB foo r 11\r\nhello world\r\n\
         HPUB foo 21 23\r\nNATS/1.0\r\nA-B: 12\r\n\r\nhi\r\nPUB foo 0\r\n\r\nPING\r\n",
    )
    .await?;
    conn.read_until(WAIT, |received| received.ends_with(b"PONG\r\n"))
        .await?;
    let mut lines = Vec::new();
    wait_for(WAIT, || {
        let text = std::fs::read_to_string(log_file).unwrap_or_default();
        lines = text
            .lines()
            .filter(|l| l.contains("[TRC]"))
            .filter_map(|l| {
                l.split_once(" - ")
                    .and_then(|(_, rest)| rest.split_once(" - "))
            })
            .map(|(_, what)| what.to_owned())
            .collect();
        lines.iter().any(|l| l.contains("[PONG]"))
    })
    .await?;
    Ok(lines)
}
