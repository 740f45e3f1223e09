//! Integration tests: real clients (async-nats), raw protocol bytes, the built binary, and the
//! differential suite against the reference nats-server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
mod clients;
mod config;
mod cross_clients;
mod diff;
mod jwt;
mod limits;
mod monitor_diff;
mod monitoring;
mod raw;
mod resolver_diff;
mod seams;
mod security;
mod tls;
