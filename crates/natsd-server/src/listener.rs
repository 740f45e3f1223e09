//! Listeners: one accept path for every kind of listener (clients today; routes, leaf
//! nodes, gateways, WebSocket and MQTT as they arrive), and the start of a server, which
//! binds the client listener and plugs in the built-in extensions and the caller's.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::log::Logger;
use crate::options::Options;
use crate::server::{host_port, Extension, Server, ServerError, ServerInner};

/// What a listener accepts; each kind has its own session behind the same accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    Client,
}

impl ListenerKind {
    /// nats-server's words for the kind, in log lines.
    fn noun(self) -> &'static str {
        match self {
            ListenerKind::Client => "Client",
        }
    }

    /// The session that serves one accepted connection of this kind.
    fn serve(
        self,
        server: Arc<ServerInner>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match self {
            ListenerKind::Client => Box::pin(crate::client::serve(server, stream, peer)),
        }
    }
}

/// Accepts connections of `kind` until told to stop, each served on its own task.
async fn accept_loop(
    server: Arc<ServerInner>,
    kind: ListenerKind,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d.
                    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
                    tokio::spawn(kind.serve(Arc::clone(&server), stream, peer));
                }
                Err(error) => {
                    // Usually out of file descriptors: wait a little rather than spin.
                    server.log.error(format_args!(
                        "Temporary {} Accept Error({error}), sleeping {}ms",
                        kind.noun(),
                        backoff.as_millis()
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Binds `host:port` for clients.
async fn bind(host: &str, port: u16) -> Result<(TcpListener, SocketAddr), ServerError> {
    let addr = host_port(host, port);
    bind_tcp(&addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })
}

/// Binds `addr` (`host:port`, port 0 for any). The IPv4 wildcard `0.0.0.0` (the default)
/// is bound on both IPv4 and IPv6 where the host has IPv6, as nats-server (Go) binds it,
/// so clients that resolve `localhost` to `::1` reach it too; the address is still
/// reported as `0.0.0.0:<port>`.
pub async fn bind_tcp(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    if let Some(port) = addr
        .strip_prefix("0.0.0.0:")
        .and_then(|port| port.parse::<u16>().ok())
    {
        if let Ok(listener) = bind_dual_stack(port) {
            let port = listener.local_addr()?.port();
            return Ok((listener, SocketAddr::from(([0, 0, 0, 0], port))));
        }
    }
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    Ok((listener, local_addr))
}

/// `[::]:port` with IPv4-mapped addresses accepted too.
fn bind_dual_stack(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// The services every server runs, as extensions: the `$SYS` requests, imports between
/// accounts, and the account resolver.
fn built_in_extensions() -> Vec<Arc<dyn Extension>> {
    vec![
        Arc::new(crate::monitor::SystemServices),
        Arc::new(crate::imports::Imports),
        Arc::new(crate::resolver::Resolver),
    ]
}

impl Server {
    /// Binds the client listener, starts accepting connections and reports ready.
    pub async fn start(opts: Options, log: Arc<Logger>) -> Result<Server, ServerError> {
        let server = Server::listen(opts, log).await?;
        server.announce_ready();
        Ok(server)
    }

    /// Logs `Server is ready`, the line harnesses wait for; the binary calls it once its
    /// other listeners and the ports file are in place.
    pub fn announce_ready(&self) {
        self.inner().log.info(format_args!("Server is ready"));
    }

    /// Binds the client listener and starts accepting connections, without reporting ready.
    pub async fn listen(opts: Options, log: Arc<Logger>) -> Result<Server, ServerError> {
        Server::listen_with(opts, log, Vec::new()).await
    }

    /// [`Server::listen`], with `extensions` plugged in after the built-in ones.
    pub async fn listen_with(
        opts: Options,
        log: Arc<Logger>,
        extensions: Vec<Arc<dyn Extension>>,
    ) -> Result<Server, ServerError> {
        let tls = opts.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let (listener, local_addr) = bind(&opts.host, opts.port.unwrap_or(0)).await?;
        let (stop_accepting, stop_rx) = watch::channel(false);
        let mut all = built_in_extensions();
        all.extend(extensions);
        let inner = ServerInner::new(opts, log, local_addr, tls, stop_accepting, all);
        inner.log.info(format_args!(
            "Listening for client connections on {local_addr}"
        ));
        let opts = inner.opts();
        if let Some(tls) = &opts.tls {
            if opts.allow_non_tls {
                inner
                    .log
                    .info(format_args!("TLS available for client connections"));
            } else {
                inner
                    .log
                    .info(format_args!("TLS required for client connections"));
            }
            if tls.verify || tls.verify_and_map {
                inner
                    .log
                    .info(format_args!("Client certificates are verified"));
            }
            if tls.handshake_first && tls.handshake_first_fallback.is_none() {
                inner.log.warn(format_args!(
                    "Clients that are not using \"TLS Handshake First\" option will fail to connect"
                ));
            }
        }
        inner.start_extensions()?;
        tokio::spawn(accept_loop(
            Arc::clone(&inner),
            ListenerKind::Client,
            listener,
            stop_rx,
        ));
        Ok(Server::from_inner(inner))
    }
}
