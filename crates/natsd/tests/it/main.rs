//! Integration tests: real clients (async-nats), raw protocol bytes, the built binary, and the
//! differential suite against the reference nats-server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;

mod binary;
mod callout;
mod clients;
mod config;
mod cross_clients;
mod diff;
mod jetstream;
mod jwt;
mod limits;
mod mappings;
mod monitor_diff;
mod monitoring;
mod raw;
mod resolver_diff;
mod seams;
mod security;
mod tls;
mod traces;

/// Subscribes to `subject`, publishes `payload` there and waits for it to come back.
pub(crate) async fn round_trip(client: &async_nats::Client, subject: &str, payload: &str) {
    let mut sub = client.subscribe(subject.to_owned()).await.unwrap();
    client
        .publish(subject.to_owned(), payload.to_owned().into())
        .await
        .unwrap();
    let msg = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
        .await
        .expect("the message in time")
        .expect("the subscription open");
    assert_eq!(msg.payload, payload.as_bytes());
}
