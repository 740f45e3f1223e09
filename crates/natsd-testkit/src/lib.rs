//! Test helpers for natsd (dev-only).
//!
//! - [`start`]: an in-process server on a random loopback port, quiet unless asked.
//! - [`raw`]: [`RawConn`], a plain TCP client that sends bytes and expects bytes, for exact
//!   wire behaviour.
//! - [`process`]: a server run as a child process (the natsd binary or the reference
//!   nats-server), ready once it logs `Server is ready`.
//! - [`diff`]: the differential byte-script format (`tests/diff/*.nds`), its runner and
//!   the masking of server-specific INFO values.
//! - [`http`]: a plain HTTP GET for the monitoring endpoints.
//! - [`certs`]: a CA, server and client certificates made with rcgen for TLS tests.
//! - [`jwt`]: an operator, accounts and users with their JWTs and `.creds`, as `nsc` makes
//!   them.
//! - [`wait_for`]: poll a condition until a deadline instead of sleeping.

pub mod certs;
pub mod diff;
pub mod http;
pub mod jwt;
pub mod process;
pub mod raw;

use std::sync::Arc;
use std::time::Duration;

use natsd_server::{Logger, Options, Server};

pub use raw::RawConn;

/// Options for a test server: loopback, random port, nats-server's other defaults.
pub fn test_options() -> Options {
    Options {
        host: "127.0.0.1".to_owned(),
        port: None,
        ..Options::default()
    }
}

/// Test options overridden by config-file text, the way a user would write it. Panics on a
/// config error: the text is the test's own.
pub fn options_from_config(text: &str) -> Options {
    let map = match natsd_conf::parse_str(text, &natsd_conf::System) {
        Ok(map) => map,
        Err(error) => panic!("test config: {error}"),
    };
    let mut opts = test_options();
    let report = natsd_server::config::apply(&mut opts, &map);
    assert!(report.errors.is_empty(), "test config: {:?}", report.errors);
    opts
}

/// Starts an in-process server with `opts`; logs go nowhere unless `NATSD_TEST_LOG` is set.
pub async fn start(opts: Options) -> anyhow::Result<Server> {
    let log = if std::env::var_os("NATSD_TEST_LOG").is_some() {
        Logger::stderr()
    } else {
        Logger::to(Box::new(std::io::sink()))
    };
    Ok(Server::start(opts, Arc::new(log)).await?)
}

/// Starts an in-process server with [`test_options`].
pub async fn start_default() -> anyhow::Result<Server> {
    start(test_options()).await
}

/// The connections the server reports in `/connz` for `options`, oldest first.
fn connections(
    server: &Server,
    options: &natsd_server::monitor::connz::ConnzOptions,
) -> Vec<natsd_server::monitor::connz::ConnInfo> {
    server
        .connz(options)
        .map(|connz| connz.connections)
        .unwrap_or_default()
}

/// The users the server reports for its open connections (`/connz?auth=1`), oldest first.
pub fn authorized_users(server: &Server) -> Vec<Option<String>> {
    let options = natsd_server::monitor::connz::ConnzOptions {
        auth: true,
        ..Default::default()
    };
    connections(server, &options)
        .into_iter()
        .map(|c| c.authorized_user)
        .collect()
}

/// Why each closed connection the server remembers was closed (`/connz?state=closed`),
/// oldest first.
pub fn close_reasons(server: &Server) -> Vec<String> {
    let options = natsd_server::monitor::connz::ConnzOptions {
        state: natsd_server::monitor::connz::ConnState::Closed,
        ..Default::default()
    };
    connections(server, &options)
        .into_iter()
        .filter_map(|c| c.reason)
        .collect()
}

/// Polls `condition` every few milliseconds until it holds or `deadline` passes.
pub async fn wait_for(
    deadline: Duration,
    mut condition: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if condition() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= until {
            anyhow::bail!("condition not met within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
