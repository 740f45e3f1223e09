//! natsd-bench: a load generator for any NATS server (natsd or nats-server), like
//! `nats bench`.
//!
//! - [`conn`]: a blocking client speaking the wire protocol, with batched writes.
//! - [`scenarios`]: `pub`, `pubsub`, `queue`, `reqrep`, `latency`, `conns`; receivers check
//!   that every message arrives exactly once and in order, and the run fails otherwise.
//! - [`jetstream`]: `js-pub`, `js-sync`, `js-restart`: publishing into a stream with
//!   acknowledgements, and bringing a large stream back after a restart.
//! - [`startup`]: spawn-to-first-PONG time, idle RSS and binary size of a server command.
//! - [`proc`]: RSS and CPU time from `/proc`.
//!
//! Each run prints one JSON line: the figures, the load generator's own CPU share (so a
//! reader can tell whether it was the bottleneck) and, with `--server-pid`, the server's CPU
//! time per message.

mod conn;
mod jetstream;
mod proc;
mod scenarios;
mod startup;

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Pub,
    Pubsub,
    Queue,
    Reqrep,
    Latency,
    Conns,
    Startup,
    JsPub,
    JsSync,
    JsRestart,
}

/// Load generator for NATS servers.
#[derive(Debug, Clone, Parser)]
#[command(version)]
pub struct Settings {
    /// What to measure.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:4222")]
    url: String,
    /// Messages to publish (requests for `reqrep`).
    #[arg(long, default_value_t = 1_000_000)]
    msgs: u64,
    /// Payload size in bytes (at least 12, the header carrying the sequence number).
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Publishers.
    #[arg(long, default_value_t = 1)]
    pubs: u32,
    /// Subscribers (`pubsub`).
    #[arg(long, default_value_t = 1)]
    subs: u32,
    /// Queue group members (`queue`).
    #[arg(long, default_value_t = 4)]
    members: u32,
    /// Publish rate in messages per second (`latency`).
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Idle connections to open (`conns`).
    #[arg(long, default_value_t = 10_000)]
    conns: u64,
    /// The server's pid, for its CPU time per message and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Publishes waiting for their acknowledgements at once (`js-pub`).
    #[arg(long, default_value_t = 256)]
    in_flight: u64,
    /// Subjects the messages of `js-restart` are spread over.
    #[arg(long, default_value_t = 100_000)]
    subjects: u64,
    /// Server command for `startup` and `js-restart` (`-a 127.0.0.1 -p PORT` is appended).
    #[arg(long)]
    server_cmd: Option<String>,
    /// Repetitions for `startup`.
    #[arg(long, default_value_t = 10)]
    rounds: u32,
    /// Longest a run may take, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

impl Settings {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

fn main() -> anyhow::Result<()> {
    let mut settings = Settings::parse();
    let name = format!("{:?}", settings.scenario).to_lowercase();
    if settings.scenario == Scenario::Startup {
        let Some(command) = &settings.server_cmd else {
            bail!("startup needs --server-cmd");
        };
        let mut fields = startup::measure(command, settings.rounds, settings.timeout())?;
        fields.insert("scenario".into(), json!(name));
        println!("{}", Value::Object(fields));
        return Ok(());
    }
    if settings.size < scenarios::HEADER {
        // Smaller payloads cannot carry the checks; 16 B runs use the header size.
        eprintln!(
            "--size {} is below the {} byte header; using {}",
            settings.size,
            scenarios::HEADER,
            scenarios::HEADER
        );
        settings.size = scenarios::HEADER;
    }
    let deadline = Instant::now() + settings.timeout();
    let generator_before = proc::cpu_ns(None)?;
    let server_before = settings
        .server_pid
        .map(|pid| proc::cpu_ns(Some(pid)))
        .transpose()?;
    let outcome = match settings.scenario {
        Scenario::Pub => scenarios::publish_only(&settings)?,
        Scenario::Pubsub => scenarios::publish_subscribe(&settings)?,
        Scenario::Queue => scenarios::queue_group(&settings)?,
        Scenario::Reqrep => scenarios::request_reply(&settings)?,
        Scenario::Latency => scenarios::one_way_latency(&settings)?,
        Scenario::Conns => scenarios::idle_connections(&settings)?,
        Scenario::JsPub => jetstream::publish_async(&settings)?,
        Scenario::JsSync => jetstream::publish_sync(&settings)?,
        Scenario::JsRestart => jetstream::restart(&settings)?,
        Scenario::Startup => unreachable!("handled above"),
    };
    if Instant::now() > deadline {
        bail!("the run took longer than {:?}", settings.timeout());
    }
    let secs = outcome.elapsed.as_secs_f64();
    let generator_cpu = proc::cpu_ns(None)?.saturating_sub(generator_before);
    let mut fields = outcome.fields;
    fields.insert("scenario".into(), json!(name));
    fields.insert("size".into(), json!(settings.size));
    fields.insert("published".into(), json!(outcome.published));
    fields.insert("delivered".into(), json!(outcome.delivered));
    fields.insert("secs".into(), json!(secs));
    fields.insert(
        "pub_msgs_per_sec".into(),
        json!(outcome.published as f64 / secs),
    );
    fields.insert(
        "delivered_msgs_per_sec".into(),
        json!(outcome.delivered as f64 / secs),
    );
    fields.insert("verified_exactly_once_in_order".into(), json!(true));
    fields.insert(
        "generator_cpu_pct".into(),
        json!(generator_cpu as f64 / 1e7 / secs),
    );
    if let (Some(pid), Some(before)) = (settings.server_pid, server_before) {
        let server_cpu = proc::cpu_ns(Some(pid))?.saturating_sub(before) as f64;
        // Per delivered message where there are receivers, else per published message.
        let handled = if outcome.delivered > 0 {
            outcome.delivered
        } else {
            outcome.published
        };
        let handled = handled.max(1) as f64;
        fields.insert("server_cpu_pct".into(), json!(server_cpu / 1e7 / secs));
        fields.insert("server_cpu_ns_per_msg".into(), json!(server_cpu / handled));
    }
    println!("{}", Value::Object(fields));
    Ok(())
}
