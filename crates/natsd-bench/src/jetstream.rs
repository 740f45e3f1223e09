//! JetStream scenarios: publishing into a file-storage stream and waiting for its
//! acknowledgements, and a restart that must bring back a large stream.
//!
//! - `js-pub`: one publisher keeps `--in-flight` publishes unacknowledged; each
//!   acknowledgement must carry the next sequence, in order.
//! - `js-sync`: one publisher waits for each acknowledgement before the next publish; the
//!   figures are the round-trip latencies.
//! - `js-restart`: spawns `--server-cmd` (which carries `-js -sd DIR`), fills a stream with
//!   `--msgs` messages over `--subjects` subjects, stops the server with SIGTERM, spawns it
//!   again and times spawn to a `STREAM.INFO` reply counting every message; the server's
//!   RSS is taken then.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use crate::conn::Conn;
use crate::scenarios::{latency_fields, new_histogram, Outcome, HEADER};
use crate::Settings;

const STREAM: &str = "BENCH";
const ACKS: &str = "natsd.bench.acks";
const API_REPLY: &str = "natsd.bench.api";

/// A `$JS.API` request and its JSON reply, which must not be an error.
fn api(conn: &mut Conn, subject: &str, body: &str) -> anyhow::Result<Value> {
    conn.publish(subject, Some(API_REPLY), body.as_bytes())?;
    conn.flush()?;
    let mut reply = Vec::new();
    conn.next_message(&mut reply)?;
    let reply: Value = serde_json::from_slice(&reply).context("API reply is not JSON")?;
    if let Some(error) = reply.get("error") {
        bail!("{subject}: {error}");
    }
    Ok(reply)
}

/// A connection subscribed to the API and acknowledgement replies, with a fresh stream
/// on `subjects` in file storage.
fn prepare(settings: &Settings, subjects: &str) -> anyhow::Result<Conn> {
    let mut conn = Conn::connect(&settings.url, settings.timeout())?;
    conn.subscribe(API_REPLY, None, 1)?;
    conn.subscribe(ACKS, None, 2)?;
    conn.ping_pong()?;
    let config = json!({"name": STREAM, "subjects": [subjects], "storage": "file"});
    api(
        &mut conn,
        &format!("$JS.API.STREAM.CREATE.{STREAM}"),
        &config.to_string(),
    )?;
    Ok(conn)
}

/// The sequence in a PubAck, which must be for the bench stream.
fn acked_sequence(ack: &[u8]) -> anyhow::Result<u64> {
    let text = std::str::from_utf8(ack).context("PubAck is not UTF-8")?;
    if text.contains("\"error\"") {
        bail!("publish refused: {text}");
    }
    let digits = text
        .split_once("\"seq\":")
        .map(|(_, rest)| rest.trim_start())
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("")
        })
        .context("PubAck without seq")?;
    Ok(digits.parse()?)
}

/// Publishes `count` messages on subjects `subject(n)` with at most `in_flight` waiting
/// for their acknowledgements; checks that the acknowledgements count up from `first`.
fn publish_acked(
    conn: &mut Conn,
    count: u64,
    size: usize,
    in_flight: u64,
    subject: impl Fn(u64) -> String,
) -> anyhow::Result<()> {
    let mut payload = vec![b'x'; size.max(HEADER)];
    let mut ack = Vec::new();
    let (mut sent, mut acked) = (0u64, 0u64);
    // Refilled by halves so each write carries many publishes.
    let refill_at = (in_flight / 2).max(1);
    while acked < count {
        if sent - acked <= refill_at && sent < count {
            while sent - acked < in_flight && sent < count {
                payload[4..12].copy_from_slice(&sent.to_le_bytes());
                conn.publish(&subject(sent), Some(ACKS), &payload)?;
                sent += 1;
            }
            conn.flush()?;
        }
        conn.next_message(&mut ack)?;
        let seq = acked_sequence(&ack)?;
        acked += 1;
        if seq != acked {
            bail!("acknowledgement for sequence {seq} arrived when {acked} was due");
        }
    }
    Ok(())
}

/// `js-pub`.
pub fn publish_async(settings: &Settings) -> anyhow::Result<Outcome> {
    let mut conn = prepare(settings, "natsd.bench.js")?;
    let began = Instant::now();
    publish_acked(
        &mut conn,
        settings.msgs,
        settings.size,
        settings.in_flight,
        |_| "natsd.bench.js".to_owned(),
    )?;
    let mut fields = Map::new();
    fields.insert("in_flight".into(), json!(settings.in_flight));
    Ok(Outcome {
        published: settings.msgs,
        delivered: 0,
        elapsed: began.elapsed(),
        fields,
    })
}

/// `js-sync`.
pub fn publish_sync(settings: &Settings) -> anyhow::Result<Outcome> {
    let mut conn = prepare(settings, "natsd.bench.js")?;
    let mut histogram = new_histogram()?;
    let mut payload = vec![b'x'; settings.size.max(HEADER)];
    let mut ack = Vec::new();
    let began = Instant::now();
    for n in 0..settings.msgs {
        payload[4..12].copy_from_slice(&n.to_le_bytes());
        let sent = Instant::now();
        conn.publish("natsd.bench.js", Some(ACKS), &payload)?;
        conn.flush()?;
        conn.next_message(&mut ack)?;
        histogram.record(sent.elapsed().as_nanos() as u64)?;
        let seq = acked_sequence(&ack)?;
        if seq != n + 1 {
            bail!(
                "acknowledgement for sequence {seq} arrived when {} was due",
                n + 1
            );
        }
    }
    Ok(Outcome {
        published: settings.msgs,
        delivered: 0,
        elapsed: began.elapsed(),
        fields: latency_fields(&histogram),
    })
}

/// A server spawned from `--server-cmd` on a free port.
fn spawn(settings: &Settings, port: u16) -> anyhow::Result<Child> {
    let command = settings
        .server_cmd
        .as_deref()
        .context("js-restart needs --server-cmd")?;
    let mut parts = command.split_whitespace();
    let program = parts.next().context("empty --server-cmd")?;
    Command::new(program)
        .args(parts)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))
}

/// Connects to a server that may still be starting.
fn connect_when_up(url: &str, deadline: Instant) -> anyhow::Result<Conn> {
    loop {
        match Conn::connect(url, Duration::from_secs(5)) {
            Ok(conn) => return Ok(conn),
            Err(error) if Instant::now() > deadline => return Err(error),
            Err(_) => std::thread::sleep(Duration::from_micros(500)),
        }
    }
}

/// SIGTERM, and the wait for the server to finish shutting down.
fn stop(mut child: Child) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(child.id().to_string()).status()?;
    if !status.success() {
        bail!("could not signal the server");
    }
    child.wait()?;
    Ok(())
}

/// `js-restart`.
pub fn restart(settings: &Settings) -> anyhow::Result<Outcome> {
    let port = crate::startup::free_port()?;
    let url = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + settings.timeout();
    let subjects = settings.subjects.max(1);
    let server = spawn(settings, port)?;
    let filled = (|| {
        let mut conn = connect_when_up(&url, deadline)?;
        conn.subscribe(API_REPLY, None, 1)?;
        conn.subscribe(ACKS, None, 2)?;
        conn.ping_pong()?;
        let config = json!({"name": STREAM, "subjects": ["natsd.bench.js.>"], "storage": "file"});
        api(
            &mut conn,
            &format!("$JS.API.STREAM.CREATE.{STREAM}"),
            &config.to_string(),
        )?;
        publish_acked(&mut conn, settings.msgs, settings.size, 256, |n| {
            format!("natsd.bench.js.{}", n % subjects)
        })
    })();
    stop(server)?;
    filled?;
    let began = Instant::now();
    let server = spawn(settings, port)?;
    let counted = (|| {
        let mut conn = connect_when_up(&url, deadline)?;
        conn.subscribe(API_REPLY, None, 1)?;
        conn.ping_pong()?;
        loop {
            let info = api(&mut conn, &format!("$JS.API.STREAM.INFO.{STREAM}"), "");
            let messages = info
                .ok()
                .and_then(|info| info.pointer("/state/messages").and_then(Value::as_u64));
            if messages == Some(settings.msgs) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the stream came back with {messages:?} messages");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })();
    let elapsed = began.elapsed();
    let rss = crate::proc::rss_bytes(server.id());
    stop(server)?;
    counted?;
    let mut fields = Map::new();
    fields.insert("subjects".into(), json!(subjects));
    fields.insert("restart_ms".into(), json!(elapsed.as_secs_f64() * 1000.0));
    fields.insert("restart_rss_bytes".into(), json!(rss?));
    Ok(Outcome {
        published: settings.msgs,
        delivered: 0,
        elapsed,
        fields,
    })
}
