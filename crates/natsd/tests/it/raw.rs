//! Exact wire behaviour, bytes in and bytes out, against an in-process server.

use std::time::Duration;

use natsd_server::Server;
use natsd_testkit::RawConn;

const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
const HEADERS: &str =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n";

async fn connect(server: &Server, connect: &str) -> RawConn {
    let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
    conn.send(connect).await.unwrap();
    conn
}

/// Sends `input` on a quiet connection and expects exactly `output` before the PONG of a
/// following PING.
async fn exchange(server: &Server, input: &str, output: &str) {
    let mut conn = connect(server, QUIET).await;
    conn.send(input).await.unwrap();
    conn.send("PING\r\n").await.unwrap();
    conn.expect(format!("{output}PONG\r\n"))
        .await
        .unwrap_or_else(|e| panic!("{input:?}: {e}"));
}

/// Sends `input` and expects `output` and then the server closing the connection.
async fn closes_after(server: &Server, connect_line: &str, input: &str, output: &str) {
    let mut conn = connect(server, connect_line).await;
    conn.send(input).await.unwrap();
    conn.expect_close_after(output)
        .await
        .unwrap_or_else(|e| panic!("{input:?}: {e}"));
}

#[tokio::test]
async fn info_greeting_has_the_fields_clients_read() {
    let server = natsd_testkit::start_default().await.unwrap();
    let (_, info) = RawConn::connect(server.local_addr()).await.unwrap();
    assert_eq!(info["version"], natsd_server::COMPATIBLE_VERSION);
    assert_eq!(info["proto"], 1);
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1024 * 1024);
    assert_eq!(info["host"], "127.0.0.1");
    assert_eq!(info["port"], server.local_addr().port());
    assert_eq!(info["client_ip"], "127.0.0.1");
    assert!(info["client_id"].as_u64().unwrap() > 0);
    let id = info["server_id"].as_str().unwrap();
    assert!(id.len() == 56 && id.starts_with('N'));
    assert_eq!(info["server_name"], id);
}

#[tokio::test]
async fn defaults_are_verbose_and_pedantic_until_connect_says_otherwise() {
    let server = natsd_testkit::start_default().await.unwrap();
    let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
    conn.send("SUB foo 1\r\nPUB foo 2\r\nhi\r\nPUB foo.* 0\r\n\r\n")
        .await
        .unwrap();
    conn.expect("+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\n")
        .await
        .unwrap();
    conn.send("CONNECT {}\r\n").await.unwrap();
    conn.expect("+OK\r\n").await.unwrap();
    conn.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
        .await
        .unwrap();
    conn.expect("PONG\r\n").await.unwrap();
}

#[tokio::test]
async fn protocol_one_clients_get_info_after_first_pong() {
    let server = natsd_testkit::start_default().await.unwrap();
    let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
    conn.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
        .await
        .unwrap();
    conn.expect("PONG\r\nINFO {").await.unwrap();
    conn.read_until(Duration::from_secs(5), |r| r.ends_with(b"} \r\n"))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&conn.received).into_owned();
    assert!(
        text.contains("\"connect_info\":true,\"remote_account\":\"$G\""),
        "{text}"
    );
    conn.received.clear();
    conn.sync().await.unwrap();
}

#[tokio::test]
async fn pub_sub_forms() {
    let server = natsd_testkit::start_default().await.unwrap();
    exchange(
        &server,
        "SUB foo 1\r\nPUB foo 5\r\nhello\r\n",
        "MSG foo 1 5\r\nhello\r\n",
    )
    .await;
    exchange(
        &server,
        "SUB foo 1\r\nPUB foo bar 0\r\n\r\n",
        "MSG foo 1 bar 0\r\n\r\n",
    )
    .await;
    exchange(
        &server,
        "sub\tfoo  7\r\npub foo\t\t02\r\nhi\r\n",
        "MSG foo 7 02\r\nhi\r\n",
    )
    .await;
    exchange(
        &server,
        "SUB foo.* 1\r\nSUB foo.> 2\r\nPUB foo.a.b 1\r\nx\r\n",
        "MSG foo.a.b 2 1\r\nx\r\n",
    )
    .await;
    exchange(
        &server,
        "SUB foo q 1\r\nPUB foo 1\r\nx\r\n",
        "MSG foo 1 1\r\nx\r\n",
    )
    .await;
    // A second sub with the same sid is a no-op.
    exchange(
        &server,
        "SUB foo 1\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\n",
        "MSG foo 1 1\r\nx\r\n",
    )
    .await;
    // Non-pedantic publishes to odd subjects are not errors.
    exchange(&server, "SUB > 1\r\nPUB foo..bar 1\r\nx\r\n", "").await;
}

#[tokio::test]
async fn unsub_with_max_counts_deliveries() {
    let server = natsd_testkit::start_default().await.unwrap();
    let mut conn = connect(&server, QUIET).await;
    conn.send("SUB foo 1\r\nUNSUB 1 2\r\n").await.unwrap();
    for _ in 0..3 {
        conn.send("PUB foo 1\r\nx\r\n").await.unwrap();
    }
    conn.send("PING\r\n").await.unwrap();
    conn.expect("MSG foo 1 1\r\nx\r\nMSG foo 1 1\r\nx\r\nPONG\r\n")
        .await
        .unwrap();
    assert_eq!(server.num_subscriptions(), 0);
    // A max at or below what was delivered unsubscribes at once.
    exchange(
        &server,
        "SUB foo 1\r\nPUB foo 1\r\nx\r\nUNSUB 1 1\r\nPUB foo 1\r\ny\r\n",
        "MSG foo 1 1\r\nx\r\n",
    )
    .await;
    exchange(
        &server,
        "SUB foo 1\r\nUNSUB 1\r\nUNSUB 9\r\nPUB foo 1\r\nx\r\n",
        "",
    )
    .await;
}

#[tokio::test]
async fn headers_go_only_to_clients_that_asked() {
    let server = natsd_testkit::start_default().await.unwrap();
    let mut plain = connect(&server, QUIET).await;
    plain.send("SUB foo 1\r\n").await.unwrap();
    plain.sync().await.unwrap();
    let mut with_headers = connect(&server, HEADERS).await;
    with_headers.send("SUB foo 2\r\n").await.unwrap();
    with_headers
        .send("HPUB foo r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n")
        .await
        .unwrap();
    with_headers
        .expect("HMSG foo 2 r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n")
        .await
        .unwrap();
    plain.expect("MSG foo 1 r 2\r\nhi\r\n").await.unwrap();
}

#[tokio::test]
async fn no_responders_status_goes_to_the_requester() {
    let server = natsd_testkit::start_default().await.unwrap();
    let mut conn = connect(&server, HEADERS).await;
    conn.send("SUB _INBOX.x 9\r\nPUB svc _INBOX.x 2\r\nhi\r\n")
        .await
        .unwrap();
    conn.expect("HMSG _INBOX.x 9 35 35\r\nNATS/1.0 503\r\nNats-Subject: svc\r\n\r\n\r\n")
        .await
        .unwrap();
    // Without no_responders nothing comes back.
    exchange(
        &server,
        "SUB _INBOX.x 9\r\nPUB svc _INBOX.x 2\r\nhi\r\n",
        "",
    )
    .await;
}

#[tokio::test]
async fn echo_false_skips_own_messages() {
    let server = natsd_testkit::start_default().await.unwrap();
    let mut conn = connect(&server, "CONNECT {\"verbose\":false,\"echo\":false}\r\n").await;
    conn.send("SUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n")
        .await
        .unwrap();
    conn.expect("PONG\r\n").await.unwrap();
}

#[tokio::test]
async fn errors_that_keep_the_connection() {
    let server = natsd_testkit::start_default().await.unwrap();
    exchange(&server, "SUB foo..bar 1\r\n", "-ERR 'Invalid Subject'\r\n").await;
    exchange(&server, "SUB foo.>.bar 1\r\n", "-ERR 'Invalid Subject'\r\n").await;
    exchange(
        &server,
        "PUB $NRG.x 1\r\nx\r\n",
        "-ERR 'Permissions Violation for Publish to \"$NRG.x\"'\r\n",
    )
    .await;
    exchange(
        &server,
        "PUB foo _R_.x 1\r\nx\r\n",
        "-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n",
    )
    .await;
    let mut pedantic = connect(&server, "CONNECT {\"verbose\":false,\"pedantic\":true}\r\n").await;
    pedantic.send("PUB foo.> 1\r\nx\r\nPING\r\n").await.unwrap();
    pedantic
        .expect("-ERR 'Invalid Publish Subject'\r\nPONG\r\n")
        .await
        .unwrap();
}

#[tokio::test]
async fn errors_that_close_the_connection() {
    let server = natsd_testkit::start_default().await.unwrap();
    let unknown = "-ERR 'Unknown Protocol Operation'\r\n";
    for input in [
        "FOO\r\n",
        "PUX",
        "MSG foo 1 1\r\n",
        "\r\n",
        " PING\r\n",
        "PUB foo 1\r\nabc",
    ] {
        closes_after(&server, QUIET, input, unknown).await;
    }
    closes_after(
        &server,
        QUIET,
        "PUB foo 1048577\r\n",
        "-ERR 'Maximum Payload Violation'\r\n",
    )
    .await;
    let long = format!("SUB {} 1\r\n", "a".repeat(5000));
    closes_after(
        &server,
        QUIET,
        &long,
        "-ERR 'maximum control line exceeded'\r\n",
    )
    .await;
    closes_after(
        &server,
        "CONNECT {\"protocol\":2}\r\n",
        "",
        "-ERR 'invalid client protocol'\r\n",
    )
    .await;
    closes_after(
        &server,
        "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n",
        "",
        "-ERR 'no responders requires headers support'\r\n",
    )
    .await;
    closes_after(
        &server,
        "CONNECT {\"account\":\"A\"}\r\n",
        "",
        "-ERR 'Authorization Violation'\r\n",
    )
    .await;
    // Malformed arguments close without an -ERR.
    for input in [
        "PUB foo\r\n",
        "PUB foo -1\r\n",
        "PUB foo 1234567890\r\n",
        "SUB foo\r\n",
        "UNSUB \r\n",
        "HPUB foo 2 2\r\nhi\r\n",
        "-ERR 'bye'\r\n",
        "INFO {\r\n",
    ] {
        closes_after(&server, QUIET, input, "").await;
    }
    closes_after(&server, "CONNECT {\"verbose\":\"yes\"}\r\n", "", "").await;
    closes_after(&server, HEADERS, "HPUB foo 5 3\r\n", "").await;
}

#[tokio::test]
async fn ops_split_at_every_byte_are_the_same() {
    let server = natsd_testkit::start_default().await.unwrap();
    let mut conn = connect(&server, QUIET).await;
    for byte in "SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n".bytes() {
        conn.send([byte]).await.unwrap();
    }
    conn.expect("MSG foo 1 5\r\nhello\r\nPONG\r\n")
        .await
        .unwrap();
}

#[tokio::test]
async fn endless_control_line_is_refused() {
    let server = natsd_testkit::start_default().await.unwrap();
    let mut conn = connect(&server, QUIET).await;
    conn.send("PUB ").await.unwrap();
    let chunk = vec![b'x'; 1024];
    // The server refuses the line once it passes max_control_line; later writes may fail.
    for _ in 0..8 {
        if conn.send(&chunk).await.is_err() {
            break;
        }
    }
    conn.expect_close_after("-ERR 'maximum control line exceeded'\r\n")
        .await
        .unwrap();
}

#[tokio::test]
async fn huge_size_is_refused_before_buffering() {
    let server = natsd_testkit::start_default().await.unwrap();
    closes_after(
        &server,
        QUIET,
        "PUB foo 999999999\r\n",
        "-ERR 'Maximum Payload Violation'\r\n",
    )
    .await;
}
