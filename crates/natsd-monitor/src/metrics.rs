//! `/metrics`: the monitoring figures in the Prometheus text format (version 0.0.4).

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use natsd_server::monitor::connz::{ConnState, ConnzOptions};
use natsd_server::Server;

pub async fn serve(State(server): State<Server>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&server),
    )
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP natsd_{name} {help}");
    let _ = writeln!(out, "# TYPE natsd_{name} {kind}");
    let _ = writeln!(out, "natsd_{name} {value}");
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(server: &Server) -> String {
    let varz = server.varz();
    let mut out = String::new();
    metric(
        &mut out,
        "connections",
        "gauge",
        "Open client connections.",
        varz.connections,
    );
    metric(
        &mut out,
        "connections_total",
        "counter",
        "Client connections accepted since start.",
        varz.total_connections,
    );
    metric(
        &mut out,
        "subscriptions",
        "gauge",
        "Subscriptions held.",
        varz.subscriptions,
    );
    metric(
        &mut out,
        "in_msgs_total",
        "counter",
        "Messages received from clients.",
        varz.in_msgs,
    );
    metric(
        &mut out,
        "in_bytes_total",
        "counter",
        "Payload bytes received from clients.",
        varz.in_bytes,
    );
    metric(
        &mut out,
        "out_msgs_total",
        "counter",
        "Messages sent to clients.",
        varz.out_msgs,
    );
    metric(
        &mut out,
        "out_bytes_total",
        "counter",
        "Payload bytes sent to clients.",
        varz.out_bytes,
    );
    metric(
        &mut out,
        "slow_consumers_total",
        "counter",
        "Clients closed as slow consumers.",
        varz.slow_consumers,
    );
    metric(
        &mut out,
        "stale_connections_total",
        "counter",
        "Clients closed as stale.",
        varz.stale_connections,
    );
    metric(
        &mut out,
        "memory_bytes",
        "gauge",
        "Resident memory of the server.",
        varz.mem,
    );
    let _ = writeln!(
        out,
        "# HELP natsd_connection_pending_bytes Bytes queued for a client and not yet written."
    );
    let _ = writeln!(out, "# TYPE natsd_connection_pending_bytes gauge");
    let open = ConnzOptions {
        state: ConnState::Open,
        limit: usize::MAX,
        ..ConnzOptions::default()
    };
    if let Ok(connz) = server.connz(&open) {
        for conn in connz.connections {
            let _ = writeln!(
                out,
                "natsd_connection_pending_bytes{{cid=\"{}\",name=\"{}\"}} {}",
                conn.cid,
                label(&conn.name),
                conn.pending_bytes
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
