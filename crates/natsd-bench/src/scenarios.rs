//! The load scenarios. Each returns its figures as JSON fields; `main` adds the common ones.
//!
//! Payloads start with a header of publisher id (u32) and sequence number (u64), followed,
//! when the payload has room, by the send time (u64 ns since the run started), so receivers
//! check exactly-once, in-order delivery and measure latency without any side channel.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::conn::Conn;
use crate::Settings;

/// Bytes of the header every payload starts with.
pub const HEADER: usize = 12;
/// Header plus send time, needed by the latency scenarios.
pub const TIMED_HEADER: usize = 20;

const SUBJECT: &str = "natsd.bench";

fn stamp(payload: &mut [u8], publisher: u32, seq: u64, sent_ns: u64) {
    payload[..4].copy_from_slice(&publisher.to_le_bytes());
    payload[4..12].copy_from_slice(&seq.to_le_bytes());
    if let Some(time) = payload.get_mut(12..20) {
        time.copy_from_slice(&sent_ns.to_le_bytes());
    }
}

fn read_stamp(payload: &[u8]) -> anyhow::Result<(u32, u64, u64)> {
    if payload.len() < HEADER {
        bail!("payload of {} bytes has no header", payload.len());
    }
    let sent = match payload.get(12..20) {
        Some(time) => u64::from_le_bytes(time.try_into()?),
        None => 0,
    };
    Ok((
        u32::from_le_bytes(payload[..4].try_into()?),
        u64::from_le_bytes(payload[4..12].try_into()?),
        sent,
    ))
}

/// What a scenario measured.
pub struct Outcome {
    /// Messages published.
    pub published: u64,
    /// Messages delivered to subscribers (sum over subscribers).
    pub delivered: u64,
    /// Wall time of the measured part.
    pub elapsed: Duration,
    pub fields: Map<String, Value>,
}

fn publisher_thread(
    settings: &Settings,
    publisher: u32,
    count: u64,
    start: Arc<Barrier>,
) -> thread::JoinHandle<anyhow::Result<()>> {
    let (url, size, timeout) = (settings.url.clone(), settings.size, settings.timeout());
    thread::spawn(move || {
        let mut conn = Conn::connect(&url, timeout)?;
        let mut payload = vec![b'x'; size];
        let control_line = format!("PUB {SUBJECT} {size}\r\n").into_bytes();
        start.wait();
        for seq in 0..count {
            stamp(&mut payload, publisher, seq, 0);
            conn.publish_prepared(&control_line, &payload)?;
        }
        conn.ping_pong()
    })
}

/// Starts the publishers together, each sending `per` messages; returns the start time
/// once all of them are done.
fn run_publishers(settings: &Settings, per: u64) -> anyhow::Result<Instant> {
    let start = Arc::new(Barrier::new(settings.pubs as usize + 1));
    let publishers: Vec<_> = (0..settings.pubs)
        .map(|p| publisher_thread(settings, p, per, Arc::clone(&start)))
        .collect();
    start.wait();
    let began = Instant::now();
    for handle in publishers {
        join(handle)?;
    }
    Ok(began)
}

fn join<T>(handle: thread::JoinHandle<anyhow::Result<T>>) -> anyhow::Result<T> {
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("a bench thread panicked"))?
}

/// `pub`: publishers only; the run ends when the server has read every message.
pub fn publish_only(settings: &Settings) -> anyhow::Result<Outcome> {
    let per = settings.msgs / u64::from(settings.pubs);
    let began = run_publishers(settings, per)?;
    Ok(Outcome {
        published: per * u64::from(settings.pubs),
        delivered: 0,
        elapsed: began.elapsed(),
        fields: Map::new(),
    })
}

/// Receives `expected` messages and checks that each publisher's sequence arrives in order
/// with no gap or repeat. With `queue` set, only ordering is checked here and the sequences
/// are returned for the exactly-once check across members.
fn receive(
    conn: &mut Conn,
    publishers: u32,
    expected: u64,
    done: &AtomicBool,
    counter: Option<&AtomicU64>,
) -> anyhow::Result<(Vec<(u32, u64)>, Instant)> {
    let mut last = Instant::now();
    let mut next = vec![0u64; publishers as usize];
    let mut seen = Vec::new();
    let mut payload = Vec::new();
    let mut received = 0u64;
    while received < expected && !done.load(Ordering::Acquire) {
        match conn.next_message(&mut payload) {
            Ok(_) => {}
            // Queue members are cut off once the others received the rest.
            Err(_) if done.load(Ordering::Acquire) => break,
            Err(e) => return Err(e),
        }
        let (publisher, seq, _) = read_stamp(&payload)?;
        let slot = next
            .get_mut(publisher as usize)
            .context("unknown publisher id")?;
        match counter {
            None if seq != *slot => bail!(
                "publisher {publisher}: message {seq} arrived when {} was due",
                *slot
            ),
            Some(_) if seq < *slot => bail!("publisher {publisher}: message {seq} out of order"),
            _ => {}
        }
        *slot = seq + 1;
        received += 1;
        last = Instant::now();
        if let Some(counter) = counter {
            seen.push((publisher, seq));
            if counter.fetch_add(1, Ordering::AcqRel) + 1 >= expected {
                done.store(true, Ordering::Release);
            }
        }
    }
    Ok((seen, last))
}

/// `pubsub`: P publishers to S subscribers of one subject; every subscriber gets every
/// message, in order per publisher.
pub fn publish_subscribe(settings: &Settings) -> anyhow::Result<Outcome> {
    let per = settings.msgs / u64::from(settings.pubs);
    let total = per * u64::from(settings.pubs);
    let ready = Arc::new(Barrier::new(settings.subs as usize + 1));
    let done = Arc::new(AtomicBool::new(false));
    let subscribers: Vec<_> = (0..settings.subs)
        .map(|_| {
            let (url, timeout, pubs) = (settings.url.clone(), settings.timeout(), settings.pubs);
            let (ready, done) = (Arc::clone(&ready), Arc::clone(&done));
            thread::spawn(move || -> anyhow::Result<Instant> {
                let mut conn = Conn::connect(&url, timeout)?;
                conn.subscribe(SUBJECT, None, 1)?;
                conn.ping_pong()?;
                ready.wait();
                let (_, last) = receive(&mut conn, pubs, total, &done, None)?;
                Ok(last)
            })
        })
        .collect();
    ready.wait();
    let began = run_publishers(settings, per)?;
    let mut finished = began;
    for handle in subscribers {
        finished = finished.max(join(handle)?);
    }
    Ok(Outcome {
        published: total,
        delivered: total * u64::from(settings.subs),
        elapsed: finished - began,
        fields: Map::new(),
    })
}

/// `queue`: K members of one queue group; every message goes to exactly one member.
pub fn queue_group(settings: &Settings) -> anyhow::Result<Outcome> {
    let per = settings.msgs / u64::from(settings.pubs);
    let total = per * u64::from(settings.pubs);
    let ready = Arc::new(Barrier::new(settings.members as usize + 1));
    let done = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::new();
    let mut members = Vec::new();
    for _ in 0..settings.members {
        let mut conn = Conn::connect(&settings.url, settings.timeout())?;
        conn.subscribe(SUBJECT, Some("workers"), 1)?;
        conn.ping_pong()?;
        sockets.push(conn.socket()?);
        let pubs = settings.pubs;
        let (ready, done, counter) = (Arc::clone(&ready), Arc::clone(&done), Arc::clone(&counter));
        members.push(thread::spawn(
            move || -> anyhow::Result<(Instant, Vec<(u32, u64)>)> {
                ready.wait();
                let (seen, last) = receive(&mut conn, pubs, total, &done, Some(&counter))?;
                Ok((last, seen))
            },
        ));
    }
    ready.wait();
    let began = run_publishers(settings, per)?;
    let deadline = Instant::now() + settings.timeout();
    while counter.load(Ordering::Acquire) < total && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    // Members still waiting for messages that went to others are cut off.
    done.store(true, Ordering::Release);
    for socket in sockets {
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
    let mut finished = began;
    let mut received = vec![0u8; total as usize];
    let mut spread = Vec::new();
    for handle in members {
        let (at, seen) = join(handle)?;
        finished = finished.max(at);
        spread.push(seen.len());
        for (publisher, seq) in seen {
            let slot = received
                .get_mut((u64::from(publisher) * per + seq) as usize)
                .context("sequence out of range")?;
            *slot += 1;
        }
    }
    if let Some(index) = received.iter().position(|&n| n != 1) {
        bail!("message {index} was delivered {} times", received[index]);
    }
    let mut fields = Map::new();
    fields.insert("per_member".into(), json!(spread));
    Ok(Outcome {
        published: total,
        delivered: total,
        elapsed: finished - began,
        fields,
    })
}

pub(crate) fn latency_fields(histogram: &Histogram<u64>) -> Map<String, Value> {
    let micros = |ns: u64| ns as f64 / 1000.0;
    let mut fields = Map::new();
    for (name, quantile) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)] {
        fields.insert(
            format!("{name}_us"),
            json!(micros(histogram.value_at_quantile(quantile))),
        );
    }
    fields.insert("max_us".into(), json!(micros(histogram.max())));
    fields
}

pub(crate) fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000_000, 3)?)
}

/// `reqrep`: sequential request/reply round trips through a responder connection.
pub fn request_reply(settings: &Settings) -> anyhow::Result<Outcome> {
    let mut responder = Conn::connect(&settings.url, settings.timeout())?;
    responder.subscribe("natsd.bench.req", None, 1)?;
    responder.ping_pong()?;
    let stop = Arc::new(AtomicBool::new(false));
    let responder_stop = Arc::clone(&stop);
    let responder_thread = thread::spawn(move || -> anyhow::Result<()> {
        let mut payload = Vec::new();
        while !responder_stop.load(Ordering::Acquire) {
            let delivery = responder.next_message(&mut payload)?;
            if let Some(reply) = delivery.reply {
                responder.publish(&reply, None, &payload)?;
                responder.flush()?;
            }
        }
        Ok(())
    });
    let mut requester = Conn::connect(&settings.url, settings.timeout())?;
    requester.subscribe("natsd.bench.inbox", None, 1)?;
    requester.ping_pong()?;
    let mut histogram = new_histogram()?;
    let mut payload = vec![b'x'; settings.size];
    let mut answer = Vec::new();
    let began = Instant::now();
    for seq in 0..settings.msgs {
        stamp(&mut payload, 0, seq, 0);
        let sent = Instant::now();
        requester.publish("natsd.bench.req", Some("natsd.bench.inbox"), &payload)?;
        requester.flush()?;
        requester.next_message(&mut answer)?;
        histogram.record(sent.elapsed().as_nanos() as u64)?;
        let (_, got, _) = read_stamp(&answer)?;
        if got != seq {
            bail!("reply {got} arrived when {seq} was due");
        }
    }
    let elapsed = began.elapsed();
    stop.store(true, Ordering::Release);
    // Wake the responder so it sees the stop flag.
    requester.publish("natsd.bench.req", None, &payload)?;
    requester.flush()?;
    join(responder_thread)?;
    Ok(Outcome {
        published: settings.msgs * 2,
        delivered: settings.msgs * 2,
        elapsed,
        fields: latency_fields(&histogram),
    })
}

/// `latency`: one-way publish-to-delivery latency at a fixed publish rate, sent in 1 ms
/// ticks (each message stamped as it is written).
pub fn one_way_latency(settings: &Settings) -> anyhow::Result<Outcome> {
    if settings.size < TIMED_HEADER {
        bail!("latency needs --size of at least {TIMED_HEADER}");
    }
    let origin = Instant::now();
    let mut subscriber = Conn::connect(&settings.url, settings.timeout())?;
    subscriber.subscribe(SUBJECT, None, 1)?;
    subscriber.ping_pong()?;
    let msgs = settings.msgs;
    let receiver = thread::spawn(move || -> anyhow::Result<Histogram<u64>> {
        let mut histogram = new_histogram()?;
        let mut payload = Vec::new();
        for expected in 0..msgs {
            subscriber.next_message(&mut payload)?;
            let (_, seq, sent) = read_stamp(&payload)?;
            if seq != expected {
                bail!("message {seq} arrived when {expected} was due");
            }
            let now = origin.elapsed().as_nanos() as u64;
            histogram.record(now.saturating_sub(sent).max(1))?;
        }
        Ok(histogram)
    });
    let mut publisher = Conn::connect(&settings.url, settings.timeout())?;
    let mut payload = vec![b'x'; settings.size];
    let per_tick = (settings.rate / 1000).max(1);
    let began = Instant::now();
    let mut seq = 0;
    let mut tick = 0u32;
    while seq < msgs {
        let due = began + Duration::from_millis(u64::from(tick));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        for _ in 0..per_tick.min(msgs - seq) {
            stamp(&mut payload, 0, seq, origin.elapsed().as_nanos() as u64);
            publisher.publish(SUBJECT, None, &payload)?;
            seq += 1;
        }
        publisher.flush()?;
        tick += 1;
    }
    let histogram = join(receiver)?;
    let mut fields = latency_fields(&histogram);
    fields.insert("rate".into(), json!(settings.rate));
    Ok(Outcome {
        published: msgs,
        delivered: msgs,
        elapsed: began.elapsed(),
        fields,
    })
}

/// `conns`: opens C idle connections and reads the server's RSS growth per connection, then
/// checks the server still serves pub/sub.
pub fn idle_connections(settings: &Settings) -> anyhow::Result<Outcome> {
    let pid = settings
        .server_pid
        .context("conns needs --server-pid to read the server's memory")?;
    let before = crate::proc::rss_bytes(pid)?;
    let began = Instant::now();
    let mut conns = Vec::with_capacity(settings.conns as usize);
    for _ in 0..settings.conns {
        conns.push(Conn::connect(&settings.url, settings.timeout())?);
    }
    let opened = began.elapsed();
    let after = crate::proc::rss_bytes(pid)?;
    let mut check = Settings {
        msgs: 1000,
        subs: 1,
        pubs: 1,
        ..settings.clone()
    };
    check.size = check.size.max(HEADER);
    publish_subscribe(&check)?;
    let per_conn = after.saturating_sub(before) / settings.conns.max(1);
    let mut fields = Map::new();
    fields.insert("conns".into(), json!(settings.conns));
    fields.insert("rss_before_bytes".into(), json!(before));
    fields.insert("rss_after_bytes".into(), json!(after));
    fields.insert("rss_per_conn_bytes".into(), json!(per_conn));
    fields.insert("still_serves_pubsub".into(), json!(true));
    drop(conns);
    Ok(Outcome {
        published: 0,
        delivered: 0,
        elapsed: opened,
        fields,
    })
}
