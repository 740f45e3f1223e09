//! What the monitoring endpoints report (`/varz`, `/connz`, `/subsz`, ...), as data with
//! nats-server's JSON field names; the HTTP layer and the `$SYS.REQ.SERVER.PING.*` requests
//! serve the same structures.
//!
//! - [`varz`], [`connz`], [`subsz`]: the main providers and their options.
//! - [`other`]: the endpoints for capabilities natsd does not serve yet (routes, gateways,
//!   leaf nodes, JetStream), which answer as nats-server does when they are unused, and
//!   `/accountz`, `/accstatz` and `/healthz`.
//! - `requests`: the same providers over NATS, `$SYS.REQ.SERVER.PING.*`; `events`: client
//!   connect and disconnect advisories in the system account.

pub mod connz;
mod events;
pub mod other;
mod requests;
pub mod subsz;
pub mod varz;

pub use crate::timefmt::{go_duration, rfc3339, uptime};
pub(crate) use events::{client_event, ClientEvent};
pub(crate) use requests::{brief as server_brief, SystemServices};

/// Writes a float as Go's encoder does: without a fraction when it is whole (`2`, not `2.0`),
/// so clients that tell integers from floats see the same types as from nats-server.
pub(crate) fn go_float<S: serde::Serializer>(
    value: &f64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

/// A request the providers refuse, with the text nats-server answers (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);
