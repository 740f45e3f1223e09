//! Before a client session starts: the INFO greeting, and when configured the TLS handshake
//! (after the INFO, or first with `handshake_first`), `allow_non_tls` and `pinned_certs`.
//! Whatever the stream ends up being, the session runs on it through [`ByteStream`].

use std::net::SocketAddr;
use std::sync::Arc;

use natsd_auth::callout::ClientTls;
use natsd_auth::Credentials;
use natsd_proto::errors;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::session::Session;
use crate::client_conn::{AuthFacts, ClientConn, TraceLog};
use crate::conn::{write_loop, ByteStream, ClientProtocol, CloseReason, Conn, ConnKind};
use crate::server::ServerInner;

/// Serves one accepted connection until it closes: greets it (over TLS when configured)
/// and runs it.
pub(crate) async fn serve(server: Arc<ServerInner>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let cid = server.next_client_id();
    let nonce = server
        .authenticator()
        .needs_nonce()
        .then(natsd_auth::nkey::new_nonce);
    let info = server.info_line(cid, &peer.ip().to_string(), nonce.as_deref(), None);
    let Some(acceptor) = server.tls() else {
        let greeted = Greeted {
            nonce,
            info: Some(info),
            ..Greeted::default()
        };
        return run(server, cid, peer, greeted, stream).await;
    };
    // Boxed, so the TLS handshake's state does not enlarge every plaintext connection's
    // task.
    Box::pin(serve_tls(server, acceptor, stream, peer, cid, nonce, info)).await;
}

/// Greets a client over TLS (or in plaintext under `allow_non_tls`) and runs it.
async fn serve_tls(
    server: Arc<ServerInner>,
    acceptor: crate::tls::Acceptor,
    mut stream: TcpStream,
    peer: SocketAddr,
    cid: u64,
    nonce: Option<String>,
    info: Vec<u8>,
) {
    let opts = server.opts();
    let Some(tls) = opts.tls.as_ref() else {
        return;
    };
    // The greeting goes out in plaintext, unless TLS comes first; then it is the first
    // thing sent over TLS. With a fallback delay, a client that sends no ClientHello in
    // that time is greeted in plaintext and upgrades as usual.
    let tls_first = match (tls.handshake_first, tls.handshake_first_fallback) {
        (false, _) => false,
        (true, None) => true,
        (true, Some(delay)) => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(delay, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => true,
                Ok(_) => return,
                Err(_) => false,
            }
        }
    };
    let greeting = if tls_first {
        Some(info)
    } else {
        let greeted = async {
            stream.write_all(&info).await?;
            let mut first = [0u8; 1];
            stream.peek(&mut first).await?;
            Ok::<_, std::io::Error>(crate::tls::starts_handshake(first[0]))
        };
        match tokio::time::timeout(tls.timeout, greeted).await {
            Ok(Ok(true)) => None,
            Ok(Ok(false)) if opts.allow_non_tls => {
                let greeted = Greeted {
                    nonce,
                    ..Greeted::default()
                };
                return run(server, cid, peer, greeted, stream).await;
            }
            // Plaintext to a TLS-only server: closed without a word, as Go's TLS does.
            Ok(Ok(false)) => {
                server.log.error(format_args!(
                    "{peer} - cid:{cid} - TLS handshake error: first record does not look like a TLS handshake"
                ));
                return;
            }
            _ => return,
        }
    };
    match tokio::time::timeout(tls.timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => {
            let client_tls = acceptor.client_tls(tls_stream.get_ref().1);
            let leaf = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.as_ref().to_vec());
            let certificate_key = leaf.as_deref().and_then(crate::tls::public_key_digest);
            if !crate::tls::pinned(certificate_key.as_deref(), &tls.pinned_certs) {
                server.log.error(format_args!(
                    "{peer} - cid:{cid} - client certificate not among pinned_certs"
                ));
                return;
            }
            let names = leaf
                .map(|cert| crate::tls::certificate_names(&cert))
                .unwrap_or_default();
            let greeted = Greeted {
                nonce,
                info: greeting,
                certificate_names: names,
                certificate_key,
                tls: Some(Box::new(client_tls)),
            };
            run(server, cid, peer, greeted, tls_stream).await;
        }
        Ok(Err(error)) => server.log.error(format_args!(
            "{peer} - cid:{cid} - TLS handshake error: {error}"
        )),
        Err(_) => server
            .log
            .error(format_args!("{peer} - cid:{cid} - TLS handshake timeout")),
    }
}

/// What greeting a connection left for the rest of it.
#[derive(Default)]
struct Greeted {
    /// The nonce the INFO carried.
    nonce: Option<String>,
    /// The INFO still to send, when it has not gone out yet.
    info: Option<Vec<u8>>,
    /// Names from the client's TLS certificate.
    certificate_names: Vec<String>,
    /// The digest of its public key, for `pinned_certs`.
    certificate_key: Option<String>,
    /// Its TLS session, for the authorization callout.
    tls: Option<Box<ClientTls>>,
}

/// Runs a greeted connection on whatever stream carries it.
async fn run<S: ByteStream>(
    server: Arc<ServerInner>,
    cid: u64,
    peer: SocketAddr,
    greeted: Greeted,
    stream: S,
) {
    let opts = server.opts();
    let (reader, writer) = stream.into_halves();
    let conn = Arc::new(Conn::new(
        cid,
        ConnKind::Client,
        ClientProtocol::Nats,
        peer,
        opts.max_pending,
    ));
    let trace_log = server.log.enabled(crate::log::Level::Trace).then(|| {
        let (headers_only, max_len) = (opts.trace_headers, opts.max_traced_msg_len);
        TraceLog::new(Arc::clone(&server.log), (peer, cid), headers_only, max_len)
    });
    let client = Arc::new(ClientConn::new(Arc::clone(&conn), trace_log, greeted.tls));
    let writer_task = tokio::spawn(write_loop(Arc::clone(&conn), writer, opts.write_deadline));
    if let Some(info) = &greeted.info {
        conn.send_now(info);
    }
    *client.auth.lock() = AuthFacts {
        nonce: greeted.nonce,
        credentials: greeted.certificate_key.is_some().then(|| {
            Box::new(Credentials {
                certificate: greeted.certificate_names,
                certificate_key: greeted.certificate_key,
                ..Credentials::default()
            })
        }),
    };

    if !server.register(&client) {
        conn.send_error(errors::MAX_CONNECTIONS_EXCEEDED);
        conn.close(CloseReason::MaxConnectionsExceeded);
        server.log.error(format_args!(
            "{peer} - cid:{cid} - {}",
            errors::MAX_CONNECTIONS_EXCEEDED
        ));
    } else {
        server.log.debug(format_args!(
            "{peer} - cid:{cid} - Client connection created"
        ));
        let mut session = Session::new(Arc::clone(&server), Arc::clone(&client));
        session.run(reader).await;
        let many = session.holds_many_subscriptions();
        let (server_now, conn_now) = (Arc::clone(&server), Arc::clone(&conn));
        let mut close = move || {
            // Unregistered first, so the closed-connection record keeps its subscriptions.
            server_now.unregister(&client);
            session.unbind();
            if conn_now.was_admitted() {
                crate::monitor::client_event(
                    &server_now,
                    &client,
                    crate::monitor::ClientEvent::Disconnect,
                );
            }
            session.remove_all_subscriptions();
        };
        if many {
            // Long work for one task: a blocking thread does it, so that this worker goes
            // on serving other connections (tasks it woke last wait for it alone).
            let _ = tokio::task::spawn_blocking(close).await;
        } else {
            close();
        }
        match conn.close_reason() {
            Some(CloseReason::SlowConsumerPendingBytes) => server.log.info(format_args!(
                "{peer} - cid:{cid} - Slow Consumer Detected: MaxPending of {} Exceeded",
                opts.max_pending
            )),
            Some(CloseReason::SlowConsumerWriteDeadline) => server.log.info(format_args!(
                "{peer} - cid:{cid} - Slow Consumer Detected: WriteDeadline of {:?} exceeded",
                opts.write_deadline
            )),
            _ => {}
        }
        if let Some(reason) = conn.close_reason() {
            server.log.debug(format_args!(
                "{peer} - cid:{cid} - Client connection closed: {reason}"
            ));
        }
    }
    let _ = writer_task.await;
}
