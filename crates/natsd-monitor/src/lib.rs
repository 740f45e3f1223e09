//! HTTP monitoring for natsd: nats-server's endpoints, paths and JSON, plus Prometheus.
//!
//! - [`start`] binds the monitoring listener and serves until the server stops;
//!   [`start_tls`] does the same over TLS (`https`).
//! - [`router`]: `/` (an index), `/varz`, `/connz`, `/routez`, `/gatewayz`, `/leafz`,
//!   `/subsz` (also `/subscriptionsz`), `/accountz`, `/accstatz`, `/jsz`, `/healthz`, all
//!   under `http_base_path`, and `/metrics` in the Prometheus text format.
//! - `query`: the query parameters, read and refused the way nats-server does.
//! - `metrics`: the Prometheus rendering of the same figures.
//!
//! The figures come from `natsd_server::monitor`; this crate only speaks HTTP.

mod metrics;
mod query;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use natsd_server::monitor::BadRequest;
use natsd_server::Server;
use serde::Serialize;
use tokio::net::TcpListener;

type Params = Query<HashMap<String, String>>;

/// The endpoints and the names the index page gives them, in nats-server's order.
const ENDPOINTS: [(&str, &str); 10] = [
    ("varz", "General"),
    ("jsz", "JetStream"),
    ("connz", "Connections"),
    ("accountz", "Accounts"),
    ("accstatz", "Account Stats"),
    ("subsz", "Subscriptions"),
    ("routez", "Routes"),
    ("leafz", "LeafNodes"),
    ("gatewayz", "Gateways"),
    ("healthz", "Health Probe"),
];

/// A running monitoring listener.
#[derive(Debug, Clone, Copy)]
pub struct Monitor {
    pub local_addr: SocketAddr,
}

/// Binds `addr` (`host:port`, port 0 for any) and serves until `server` stops.
pub async fn start(server: Server, addr: &str) -> std::io::Result<Monitor> {
    let (listener, local_addr) = natsd_server::listener::bind_tcp(addr).await?;
    let base_path = server.options().http_base_path.clone();
    let app = router(server.clone(), &base_path);
    tokio::spawn(async move {
        let stopped = async move { server.stopped().await };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await;
    });
    Ok(Monitor { local_addr })
}

/// Binds `addr` and serves monitoring over TLS with the client TLS settings, as
/// nats-server's `https` does.
pub async fn start_tls(server: Server, addr: &str) -> std::io::Result<Monitor> {
    let acceptor = server.tls_acceptor().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "https monitoring needs TLS to be configured",
        )
    })?;
    let timeout = server
        .options()
        .tls
        .as_ref()
        .map_or(natsd_server::tls::DEFAULT_TLS_TIMEOUT, |t| t.timeout);
    let (tcp, local_addr) = natsd_server::listener::bind_tcp(addr).await?;
    let base_path = server.options().http_base_path.clone();
    let app = router(server.clone(), &base_path);
    let listener = TlsListener {
        tcp,
        acceptor,
        timeout,
    };
    tokio::spawn(async move {
        let stopped = async move { server.stopped().await };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await;
    });
    Ok(Monitor { local_addr })
}

/// Accepts TCP connections and completes their TLS handshake; failed handshakes are
/// dropped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: natsd_server::tls::Acceptor,
    timeout: std::time::Duration,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            let handshake = self.acceptor.accept(stream);
            if let Ok(Ok(tls)) = tokio::time::timeout(self.timeout, handshake).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The monitoring routes, under `base_path` (nats-server's `http_base_path`).
pub fn router(server: Server, base_path: &str) -> Router {
    let base = base_path.trim_end_matches('/');
    let path = |endpoint: &str| format!("{base}/{endpoint}");
    Router::new()
        .route(&path(""), get(index))
        .route(&path("varz"), get(varz))
        .route(&path("connz"), get(connz))
        .route(&path("routez"), get(routez))
        .route(&path("gatewayz"), get(gatewayz))
        .route(&path("leafz"), get(leafz))
        .route(&path("subsz"), get(subsz))
        .route(&path("subscriptionsz"), get(subsz))
        .route(&path("accountz"), get(accountz))
        .route(&path("accstatz"), get(accstatz))
        .route(&path("jsz"), get(jsz))
        .route(&path("healthz"), get(healthz))
        .route(&path("metrics"), get(metrics::serve))
        .route_layer(axum::middleware::from_fn_with_state(
            (server.clone(), base.to_owned()),
            count_request,
        ))
        .with_state(server)
}

/// Counts every request to an endpoint by its path, for `/varz` `http_req_stats`.
async fn count_request(
    State((server, base)): State<(Server, String)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let endpoint = path.strip_prefix(base.as_str()).unwrap_or(path);
    server.count_monitor_request(if endpoint.is_empty() { "/" } else { endpoint });
    next.run(request).await
}

/// Pretty JSON, as nats-server writes it, open to every origin.
fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(body) => with_json_headers(body),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn with_json_headers(body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body,
    )
        .into_response()
}

fn bad_request(error: BadRequest) -> Response {
    (StatusCode::BAD_REQUEST, error.0).into_response()
}

fn answer<T: Serialize>(result: Result<T, BadRequest>) -> Response {
    match result {
        Ok(value) => json(&value),
        Err(error) => bad_request(error),
    }
}

async fn index() -> Html<String> {
    let links: String = ENDPOINTS
        .iter()
        .map(|(path, name)| {
            format!("    <a href=./{path}>{name}<span class=\"endpoint\"> /{path}</span></a>\n")
        })
        .collect();
    Html(format!(
        "<html lang=\"en\">\n  <head><title>natsd</title></head>\n  <body>\n    <p>natsd v{} (nats-server v{})</p>\n{links}    <a href=./metrics>Prometheus Metrics<span class=\"endpoint\"> /metrics</span></a>\n  </body>\n</html>\n",
        natsd_server::NATSD_VERSION,
        natsd_server::COMPATIBLE_VERSION,
    ))
}

async fn varz(State(server): State<Server>) -> Response {
    json(&server.varz())
}

async fn connz(State(server): State<Server>, Query(params): Params) -> Response {
    answer(query::connz(&params).and_then(|opts| server.connz(&opts)))
}

async fn routez(State(server): State<Server>) -> Response {
    json(&server.routez())
}

async fn gatewayz(State(server): State<Server>) -> Response {
    json(&server.gatewayz())
}

async fn leafz(State(server): State<Server>) -> Response {
    json(&server.leafz())
}

async fn subsz(State(server): State<Server>, Query(params): Params) -> Response {
    answer(query::subsz(&params).and_then(|opts| server.subsz(&opts)))
}

async fn accountz(State(server): State<Server>, Query(params): Params) -> Response {
    json(&server.accountz(params.get("acc").map(String::as_str)))
}

async fn accstatz(State(server): State<Server>, Query(params): Params) -> Response {
    answer(query::flag(&params, "unused").map(|unused| server.accstatz(unused)))
}

async fn jsz(State(server): State<Server>, Query(params): Params) -> Response {
    answer(query::jsz(&params).and_then(|opts| server.jsz(&opts)))
}

/// Compact, unlike the other endpoints, as nats-server answers it; the status says what
/// `status_code` says over `$SYS`.
async fn healthz(State(server): State<Server>, Query(params): Params) -> Response {
    let options = match query::healthz(&params) {
        Ok(options) => options,
        Err(error) => return bad_request(error),
    };
    let mut health = server.healthz(&options);
    let status = StatusCode::from_u16(health.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    health.status_code = None;
    match serde_json::to_string(&health) {
        Ok(body) => (status, with_json_headers(body)).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
