//! Smoke tests of the built binary: flags, pid and log files, signals.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use natsd_testkit::process::ServerProcess;
use natsd_testkit::{wait_for, RawConn};

const WAIT: Duration = Duration::from_secs(10);

fn natsd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_natsd"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Starts the binary on a random loopback port with `extra` flags.
fn start_natsd(extra: &[&str]) -> ServerProcess {
    let all = [&["-a", "127.0.0.1", "-p", "-1"][..], extra].concat();
    ServerProcess::start(natsd(), &args(&all)).unwrap()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("natsd-it-{}-{name}", std::process::id()))
}

#[test]
fn version_names_the_compatible_nats_server() {
    for flag in ["-v", "--version", "version"] {
        let output = Command::new(natsd()).arg(flag).output().unwrap();
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!("nats-server: v{}", natsd_server::COMPATIBLE_VERSION)
        );
    }
}

#[test]
fn help_and_bad_flags() {
    let help = Command::new(natsd()).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--addr, --net <host>"));
    let bad = Command::new(natsd()).arg("--bogus").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("flag provided but not defined: -bogus"));
}

#[test]
fn port_in_use_is_a_fatal_error() {
    let first = start_natsd(&[]);
    let port = first.addr.port().to_string();
    let output = Command::new(natsd())
        .args(["-a", "127.0.0.1", "-p", &port])
        .output()
        .unwrap();
    assert!(!output.status.success());
    // nats-server's words, which harnesses and supervisors match on.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "[FTL] Error listening on port: 127.0.0.1:{port}, \"listen tcp 127.0.0.1:{port}: bind: address already in use\""
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_malformed_config_says_parse_error_on_line() {
    let path = temp_path("malformed.conf");
    std::fs::write(&path, "port: 4222\nfoo {\n  bar: [1, 2\n").unwrap();
    let output = Command::new(natsd()).arg("-c").arg(&path).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:4:1: Parse error on line 4: 'Expected",
            path.display()
        )),
        "{stderr}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn serves_clients_and_stops_on_sigterm() {
    let pid_file = temp_path("pid");
    let mut server = start_natsd(&["-P", pid_file.to_str().unwrap(), "-no_advertise"]);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(pid, server.pid().to_string(), "bare pid, no newline");
    let warned = server
        .drain_log()
        .iter()
        .any(|l| l.contains("[WRN]") && l.contains("-no_advertise"));
    assert!(warned, "unsupported flags are named in a warning");

    let (mut conn, info) = RawConn::connect(server.addr).await.unwrap();
    assert_eq!(info["port"], server.addr.port());
    conn.send("CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 2\r\nok\r\nPING\r\n")
        .await
        .unwrap();
    conn.expect("MSG a 1 2\r\nok\r\nPONG\r\n").await.unwrap();

    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    assert_eq!(server.wait_exit(WAIT).unwrap(), Some(0));
    conn.expect_closed().await.unwrap();
    assert!(!pid_file.exists(), "pid file removed on exit");
}

#[tokio::test]
async fn log_file_has_the_listening_line() {
    let log_file = temp_path("log");
    let mut child = Command::new(natsd())
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-l",
            log_file.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let ready = natsd_testkit::process::wait_for_ready_log(&log_file, WAIT).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&log_file);
    let text = ready.unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("Listening for client connections on 127.0.0.1:"))
        .unwrap();
    // `[pid] 2006/01/02 15:04:05.000000 [INF] ...`
    let pid = format!("[{}] ", child.id());
    assert!(line.starts_with(&pid), "{line}");
    let rest = &line[pid.len()..];
    assert_eq!(&rest[4..5], "/");
    assert_eq!(&rest[26..33], " [INF] ");
    let port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
}

#[tokio::test]
async fn signal_ldm_through_pid_file_enters_lame_duck_mode() {
    let pid_file = temp_path("ldm.pid");
    let mut server = start_natsd(&[
        "--pid",
        pid_file.to_str().unwrap(),
        "--lame_duck_grace_period",
        "100ms",
        "--lame_duck_duration",
        "300ms",
    ]);
    let (mut conn, _) = RawConn::connect(server.addr).await.unwrap();
    conn.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\n")
        .await
        .unwrap();
    conn.sync().await.unwrap();
    let status = Command::new(natsd())
        .arg(format!("--signal=ldm={}", pid_file.display()))
        .status()
        .unwrap();
    assert!(status.success());
    conn.read_until(WAIT, |r| {
        String::from_utf8_lossy(r).contains("\"ldm\":true")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&conn.received).into_owned();
    let ldm_info = text.lines().find(|l| l.contains("\"ldm\":true")).unwrap();
    assert!(
        ldm_info.contains("\"client_ip\":\"127.0.0.1\""),
        "{ldm_info}"
    );
    conn.received.clear();
    conn.expect_closed().await.unwrap();
    assert_eq!(server.wait_exit(WAIT).unwrap(), Some(0));
    let log = server.drain_log().join("\n");
    assert!(log.contains("Entering lame duck mode"), "{log}");
}

#[tokio::test]
async fn trace_flag_logs_the_protocol() {
    let mut server = start_natsd(&["-DV"]);
    let (mut conn, _) = RawConn::connect(server.addr).await.unwrap();
    conn.send("CONNECT {\"verbose\":false}\r\nSUB foo q 1\r\nPUB foo 2\r\nhi\r\nSUB foo..x 2\r\n")
        .await
        .unwrap();
    conn.send("PING\r\n").await.unwrap();
    conn.expect("MSG foo 1 2\r\nhi\r\n-ERR 'Invalid Subject'\r\nPONG\r\n")
        .await
        .unwrap();
    let mut log = Vec::new();
    wait_for(WAIT, || {
        log.extend(server.drain_log());
        log.iter().any(|l| l.contains("->> [PONG]"))
    })
    .await
    .unwrap();
    for expected in [
        "<<- [SUB foo q 1]",
        "<<- [PUB foo 2]",
        "->> [-ERR Invalid Subject]",
    ] {
        assert!(
            log.iter()
                .any(|l| l.contains("[TRC]") && l.contains(expected)),
            "{expected}"
        );
    }
}
