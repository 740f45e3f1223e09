//! natsd-bench: a load generator for any NATS server (natsd or nats-server).
//!
//! It speaks the client protocol over plain blocking sockets with large batched writes, so
//! the generator is rarely the bottleneck. Every message carries its sequence number, and
//! the subscriber checks that each arrives exactly once and in order.
//!
//! Scenarios so far: `pub` (publisher only) and `pubsub` (one publisher, one subscriber).
//! Each run prints one JSON line of figures.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const SUBJECT: &str = "natsd.bench";
/// Every run gives up after this long, whatever the counts.
const RUN_LIMIT: Duration = Duration::from_secs(120);

struct Settings {
    scenario: String,
    url: String,
    msgs: u64,
    size: usize,
}

fn parse_args() -> anyhow::Result<Settings> {
    let mut args = std::env::args().skip(1);
    let scenario = args
        .next()
        .context("usage: natsd-bench pub|pubsub [--url host:port] [--msgs N] [--size BYTES]")?;
    let mut settings = Settings {
        scenario,
        url: "127.0.0.1:4222".to_owned(),
        msgs: 1_000_000,
        size: 16,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => settings.url = value.trim_start_matches("nats://").to_owned(),
            "--msgs" => settings.msgs = value.parse()?,
            "--size" => settings.size = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    if settings.size < 8 {
        bail!("--size must be at least 8 (the sequence number)");
    }
    Ok(settings)
}

/// Connects, reads INFO, sends CONNECT, and waits for the PONG of a PING.
fn connect(url: &str, extra: &str) -> anyhow::Result<(BufReader<TcpStream>, TcpStream)> {
    let stream = TcpStream::connect(url).with_context(|| format!("connecting to {url}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(RUN_LIMIT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("INFO ") {
        bail!("expected INFO, got {line:?}");
    }
    write!(
        writer,
        "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n{extra}PING\r\n"
    )?;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("server closed the connection");
        }
        if line == "PONG\r\n" {
            return Ok((reader, writer));
        }
    }
}

fn publish(url: &str, msgs: u64, size: usize) -> anyhow::Result<()> {
    let (mut reader, stream) = connect(url, "")?;
    let mut out = BufWriter::with_capacity(64 * 1024, stream);
    let header = format!("PUB {SUBJECT} {size}\r\n");
    let mut payload = vec![b'x'; size];
    for seq in 0..msgs {
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        out.write_all(header.as_bytes())?;
        out.write_all(&payload)?;
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"PING\r\n")?;
    out.flush()?;
    let mut line = String::new();
    while line != "PONG\r\n" {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("server closed the publisher");
        }
    }
    Ok(())
}

/// Reads `msgs` messages and checks their sequence numbers; returns when the last arrived.
fn subscribe_and_count(mut reader: BufReader<TcpStream>, msgs: u64) -> anyhow::Result<Instant> {
    let mut expected = 0u64;
    let mut line = Vec::new();
    let mut payload = Vec::new();
    while expected < msgs {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            bail!("server closed the subscriber after {expected} messages");
        }
        if !line.starts_with(b"MSG ") {
            if line.starts_with(b"PING") {
                reader.get_mut().write_all(b"PONG\r\n")?;
            }
            continue;
        }
        let text = std::str::from_utf8(&line)?.trim_end();
        let size: usize = text
            .rsplit(' ')
            .next()
            .context("MSG without size")?
            .parse()?;
        payload.resize(size + 2, 0);
        reader.read_exact(&mut payload)?;
        let seq = u64::from_le_bytes(payload[..8].try_into()?);
        if seq != expected {
            bail!("message {seq} arrived when {expected} was due (lost, duplicated or reordered)");
        }
        expected += 1;
    }
    Ok(Instant::now())
}

fn main() -> anyhow::Result<()> {
    let settings = parse_args()?;
    let Settings {
        scenario,
        url,
        msgs,
        size,
    } = &settings;
    let (msgs, size) = (*msgs, *size);
    let started = Instant::now();
    let (finished, delivered) = match scenario.as_str() {
        "pub" => {
            publish(url, msgs, size)?;
            (Instant::now(), 0)
        }
        "pubsub" => {
            let (reader, _writer) = connect(url, &format!("SUB {SUBJECT} 1\r\n"))?;
            let counter = std::thread::spawn(move || subscribe_and_count(reader, msgs));
            let started = Instant::now();
            publish(url, msgs, size)?;
            let finished = counter
                .join()
                .map_err(|_| anyhow::anyhow!("subscriber panicked"))??;
            return report(&settings, started, finished, msgs);
        }
        other => bail!("unknown scenario {other}"),
    };
    report(&settings, started, finished, delivered)
}

fn report(
    settings: &Settings,
    started: Instant,
    finished: Instant,
    delivered: u64,
) -> anyhow::Result<()> {
    let secs = finished.duration_since(started).as_secs_f64();
    if secs > RUN_LIMIT.as_secs_f64() {
        bail!("run exceeded {RUN_LIMIT:?}");
    }
    println!(
        "{{\"scenario\":\"{}\",\"msgs\":{},\"size\":{},\"secs\":{secs:.3},\"pub_msgs_per_sec\":{:.0},\"delivered\":{delivered},\"delivered_msgs_per_sec\":{:.0},\"in_order_exactly_once\":{}}}",
        settings.scenario,
        settings.msgs,
        settings.size,
        settings.msgs as f64 / secs,
        delivered as f64 / secs,
        settings.scenario == "pub" || delivered == settings.msgs,
    );
    Ok(())
}
