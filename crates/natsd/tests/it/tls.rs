//! TLS for clients, with certificates made by the test: the client upgrades after the
//! plaintext INFO (or before it, with handshake_first), client certificates are verified
//! against the CA, and plaintext clients of a TLS-only server are closed.

use std::path::PathBuf;
use std::time::Duration;

use natsd_server::tls::TlsOptions;
use natsd_server::Options;
use natsd_testkit::certs::TestCerts;
use natsd_testkit::{start, test_options, RawConn};

const WAIT: Duration = Duration::from_secs(10);

fn certs(name: &str) -> (TestCerts, PathBuf) {
    let dir = std::env::temp_dir().join(format!("natsd-tls-{}-{name}", std::process::id()));
    (TestCerts::generate(&dir).unwrap(), dir)
}

fn tls_options(certs: &TestCerts, verify: bool, handshake_first: bool) -> Options {
    Options {
        tls: Some(TlsOptions {
            cert_file: certs.server_cert.clone(),
            key_file: certs.server_key.clone(),
            ca_file: Some(certs.ca.clone()),
            verify,
            handshake_first,
            ..TlsOptions::default()
        }),
        ..test_options()
    }
}

/// A client that trusts the test CA and insists on TLS.
fn tls_client(certs: &TestCerts) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .add_root_certificates(certs.ca.clone())
        .require_tls(true)
}

/// A client that trusts the test CA and starts TLS before the server's INFO.
fn tls_first_client(certs: &TestCerts) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .add_root_certificates(certs.ca.clone())
        .tls_first()
}

async fn round_trip(client: &async_nats::Client) {
    crate::round_trip(client, "secure", "sealed").await;
}

#[tokio::test]
async fn clients_upgrade_after_the_info() {
    let (certs, dir) = certs("upgrade");
    let server = start(tls_options(&certs, false, false)).await.unwrap();
    let (mut plain, info) = RawConn::connect(server.local_addr()).await.unwrap();
    assert_eq!(info["tls_required"], true);
    assert!(info.get("tls_verify").is_none());
    // A client that stays in plaintext fails the handshake and is closed, without -ERR.
    plain.send("CONNECT {}\r\nPING\r\n").await.unwrap();
    plain.expect_closed().await.unwrap();

    let client = tls_client(&certs)
        .connect(server.client_url())
        .await
        .unwrap();
    round_trip(&client).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn client_certificates_are_verified() {
    let (certs, dir) = certs("verify");
    let server = start(tls_options(&certs, true, false)).await.unwrap();
    let (_plain, info) = RawConn::connect(server.local_addr()).await.unwrap();
    assert_eq!(info["tls_verify"], true);

    crate::security::assert_refused(
        tls_client(&certs).connect(server.client_url()),
        async_nats::ConnectErrorKind::Io,
        "received fatal alert: CertificateRequired",
    )
    .await;
    // A certificate from another CA is refused too.
    let strangers_dir =
        std::env::temp_dir().join(format!("natsd-tls-{}-verify-other-ca", std::process::id()));
    let strangers = TestCerts::generate(&strangers_dir).unwrap();
    crate::security::assert_refused(
        tls_client(&certs)
            .add_client_certificate(strangers.client_cert.clone(), strangers.client_key.clone())
            .connect(server.client_url()),
        async_nats::ConnectErrorKind::Io,
        "received fatal alert",
    )
    .await;
    assert_eq!(server.num_clients(), 0);

    let client = tls_client(&certs)
        .add_client_certificate(certs.client_cert.clone(), certs.client_key.clone())
        .connect(server.client_url())
        .await
        .unwrap();
    round_trip(&client).await;
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(strangers_dir).unwrap();
}

#[tokio::test]
async fn handshake_first_puts_tls_before_the_info() {
    let (certs, dir) = certs("first");
    let server = start(tls_options(&certs, false, true)).await.unwrap();
    let client = tls_first_client(&certs)
        .connect(server.client_url())
        .await
        .unwrap();
    round_trip(&client).await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// `handshake_first: 300ms`: a TLS-first client and an ordinary TLS client (which waits
/// for the plaintext INFO) share one port.
#[tokio::test]
async fn handshake_first_with_a_fallback_serves_both_kinds_of_tls_client() {
    let (certs, dir) = certs("first-fallback");
    let text = format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\", handshake_first: 300ms }}",
        certs.server_cert.display(),
        certs.server_key.display()
    );
    let opts = natsd_testkit::options_from_config(&text);
    let fallback = opts.tls.as_ref().and_then(|t| t.handshake_first_fallback);
    assert_eq!(fallback, Some(Duration::from_millis(300)));
    let server = start(opts).await.unwrap();
    let first = tls_first_client(&certs)
        .connect(server.client_url())
        .await
        .unwrap();
    round_trip(&first).await;
    let started = std::time::Instant::now();
    let ordinary = tls_client(&certs)
        .connect(server.client_url())
        .await
        .unwrap();
    round_trip(&ordinary).await;
    // Greeted once the 300 ms passed without a ClientHello.
    assert!(started.elapsed() >= Duration::from_millis(250));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn allow_non_tls_serves_both() {
    let (certs, dir) = certs("mixed");
    let server = start(Options {
        allow_non_tls: true,
        ..tls_options(&certs, false, false)
    })
    .await
    .unwrap();
    let (mut plain, info) = RawConn::connect(server.local_addr()).await.unwrap();
    assert_eq!(info["tls_available"], true);
    assert!(info.get("tls_required").is_none());
    plain
        .send("CONNECT {\"verbose\":false}\r\nPING\r\n")
        .await
        .unwrap();
    plain.expect("PONG\r\n").await.unwrap();
    let client = tls_client(&certs)
        .connect(server.client_url())
        .await
        .unwrap();
    round_trip(&client).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_bad_certificate_file_stops_the_start() {
    let (certs, dir) = certs("bad");
    std::fs::write(&certs.server_cert, "not a certificate").unwrap();
    let error = start(tls_options(&certs, false, false)).await.unwrap_err();
    assert!(error.to_string().contains("certificate"), "{error}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn verify_and_map_takes_the_user_from_the_certificate() {
    let (certs, dir) = certs("map");
    let mut opts = tls_options(&certs, true, false);
    if let Some(tls) = opts.tls.as_mut() {
        tls.verify_and_map = true;
    }
    opts.authorization = natsd_auth::Authenticator {
        users: vec![natsd_auth::User {
            name: format!("CN={}", certs.client_name),
            password: None,
            nkey: None,
            permissions: None,
            account: None,
            ..Default::default()
        }],
        map_certificates: true,
        ..natsd_auth::Authenticator::default()
    };
    let server = start(opts).await.unwrap();
    let client = tls_client(&certs)
        .add_client_certificate(certs.client_cert.clone(), certs.client_key.clone())
        .connect(server.client_url())
        .await
        .unwrap();
    round_trip(&client).await;
    assert_eq!(
        natsd_testkit::authorized_users(&server),
        vec![Some(format!("CN={}", certs.client_name))]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A TLS client connector trusting `ca`.
fn connector(
    ca: &std::path::Path,
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// A TLS 1.2 client offering `suites` (all of rustls's when empty) does TLS first; returns
/// what it negotiated, or `None` when the handshake failed.
async fn negotiate(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    suites: &[rustls::SupportedCipherSuite],
) -> Option<(rustls::CipherSuite, rustls::NamedGroup)> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !suites.is_empty() {
        provider.cipher_suites = suites.to_vec();
    }
    let connector = connector(ca, provider, &[&rustls::version::TLS12]);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(WAIT, connector.connect(name, tcp))
        .await
        .unwrap()
        .ok()?;
    let session = tls.get_ref().1;
    Some((
        session.negotiated_cipher_suite()?.suite(),
        session.negotiated_key_exchange_group()?.name(),
    ))
}

#[tokio::test]
async fn cipher_suites_and_curve_preferences_limit_what_is_negotiated() {
    use rustls::crypto::ring::cipher_suite;
    let (certs, dir) = certs("ciphers");
    let mut opts = tls_options(&certs, false, true);
    if let Some(tls) = opts.tls.as_mut() {
        tls.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_owned()];
        tls.curve_preferences = vec!["CurveP384".to_owned()];
    }
    let server = start(opts).await.unwrap();
    assert_eq!(
        negotiate(server.local_addr(), &certs.ca, &[]).await,
        Some((
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            rustls::NamedGroup::secp384r1
        ))
    );
    // A client offering only suites the server was not given gets nowhere.
    let others = [cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    assert_eq!(
        negotiate(server.local_addr(), &certs.ca, &others).await,
        None
    );
    // Without the settings, rustls's own preferences apply.
    let server = start(tls_options(&certs, false, true)).await.unwrap();
    let (suite, group) = negotiate(server.local_addr(), &certs.ca, &[])
        .await
        .unwrap();
    assert_ne!(
        (suite, group),
        (
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            rustls::NamedGroup::secp384r1
        )
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `GET path` over TLS, trusting `ca`.
async fn https_get(addr: std::net::SocketAddr, ca: &std::path::Path, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connector = connector(
        ca,
        rustls::crypto::ring::default_provider(),
        rustls::DEFAULT_VERSIONS,
    );
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    let _ = tokio::time::timeout(WAIT, tls.read_to_string(&mut response)).await;
    response
}

#[tokio::test]
async fn monitoring_over_https() {
    let (certs, dir) = certs("https");
    let server = start(tls_options(&certs, false, false)).await.unwrap();
    let monitor = natsd_monitor::start_tls(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let response = https_get(monitor.local_addr, &certs.ca, "/varz").await;
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(response.contains("\"tls_required\": true"), "{response}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A client that connects and never starts TLS is closed after the TLS timeout, and
/// leaves nothing behind.
#[tokio::test]
async fn a_handshake_that_never_completes_is_closed() {
    let (certs, dir) = certs("stall");
    let mut opts = tls_options(&certs, false, false);
    if let Some(tls) = opts.tls.as_mut() {
        tls.timeout = Duration::from_millis(200);
    }
    let server = start(opts).await.unwrap();
    let started = std::time::Instant::now();
    let (mut silent, _) = RawConn::connect(server.local_addr()).await.unwrap();
    silent.expect_closed().await.unwrap();
    // The configured 200 ms, not the 2 s default.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_millis(1500),
        "closed after {took:?}"
    );
    assert_eq!(server.num_clients(), 0);
    // A half-sent handshake fares the same.
    let (mut partial, _) = RawConn::connect(server.local_addr()).await.unwrap();
    partial.send([0x16u8, 0x03, 0x01]).await.unwrap();
    partial.expect_closed().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn pinned_certificates_admit_only_their_keys() {
    let (certs, dir) = certs("pinned");
    let client = || {
        tls_client(&certs)
            .add_client_certificate(certs.client_cert.clone(), certs.client_key.clone())
    };
    let mut opts = tls_options(&certs, true, false);
    if let Some(tls) = opts.tls.as_mut() {
        tls.pinned_certs = vec![certs.client_pin.to_uppercase()];
    }
    let server = start(opts.clone()).await.unwrap();
    let admitted = client().connect(server.client_url()).await.unwrap();
    round_trip(&admitted).await;
    // A reload that drops the pin closes the client.
    if let Some(tls) = opts.tls.as_mut() {
        tls.pinned_certs = vec!["11".repeat(32)];
    }
    server.reload(opts).unwrap();
    natsd_testkit::wait_for(WAIT, || server.num_clients() == 0)
        .await
        .unwrap();

    let mut opts = tls_options(&certs, true, false);
    if let Some(tls) = opts.tls.as_mut() {
        tls.pinned_certs = vec!["00".repeat(32)];
    }
    let server = start(opts).await.unwrap();
    crate::security::assert_refused(
        client().connect(server.client_url()),
        async_nats::ConnectErrorKind::Io,
        "peer closed connection",
    )
    .await;
    // The server closes it for the pin, right after the handshake.
    assert_eq!(server.num_clients(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A TLS subscriber that stops reading while a burst larger than the socket buffers is
/// queued for it, then reads, gets every message, although nothing is published after:
/// the server's writer flushes what its TLS layer still holds when the socket would block.
#[tokio::test]
async fn a_burst_to_a_tls_subscriber_arrives_whole_after_it_stalled() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MESSAGES: usize = 8000;
    const PAYLOAD: usize = 1024;
    let (certs, dir) = certs("burst");
    let server = start(tls_options(&certs, false, true)).await.unwrap();

    // A raw TLS subscriber with a small receive buffer, so the server's socket blocks.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.local_addr()).await.unwrap();
    let connector = connector(
        &certs.ca,
        rustls::crypto::ring::default_provider(),
        rustls::DEFAULT_VERSIONS,
    );
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut subscriber = connector.connect(name, tcp).await.unwrap();
    subscriber
        .write_all(b"CONNECT {\"verbose\":false}\r\nSUB burst 1\r\nPING\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while !received.ends_with(b"PONG\r\n") {
        let n = tokio::time::timeout(WAIT, subscriber.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the PONG");
        received.extend_from_slice(&chunk[..n]);
    }

    // The whole burst is queued while the subscriber does not read.
    let publisher = tls_first_client(&certs)
        .connect(server.client_url())
        .await
        .unwrap();
    let payload = bytes::Bytes::from(vec![b'x'; PAYLOAD]);
    for _ in 0..MESSAGES {
        publisher.publish("burst", payload.clone()).await.unwrap();
    }
    publisher.flush().await.unwrap();

    let frame = format!("MSG burst 1 {PAYLOAD}\r\n").len() + PAYLOAD + 2;
    let expected = MESSAGES * frame;
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while got < expected {
        match tokio::time::timeout_at(deadline, subscriber.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got += n,
            other => panic!("{got} of {expected} bytes arrived, then {other:?}"),
        }
    }
    assert_eq!(got, expected);
    std::fs::remove_dir_all(dir).unwrap();
}
