//! JetStream through the built binary: acknowledged messages survive `kill -9`, and a
//! block damaged while the server is down costs at most its damaged records.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use natsd_testkit::process::ServerProcess;

const WAIT: Duration = Duration::from_secs(20);

fn start(dir: &Path) -> ServerProcess {
    start_with(dir, &[])
}

/// The server with its store in `dir`, and `extra` arguments.
fn start_with(dir: &Path, extra: &[String]) -> ServerProcess {
    let args: Vec<String> = ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.display().to_string()])
        .chain(extra.iter().cloned())
        .collect();
    ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_natsd")), &args).unwrap()
}

fn store_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natsd-it-js-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn kill_9(server: &ServerProcess) {
    let status = std::process::Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn context(server: &ServerProcess) -> jetstream::Context {
    let client = async_nats::connect(format!("nats://{}", server.addr))
        .await
        .unwrap();
    jetstream::new(client)
}

fn payload(n: u32) -> Vec<u8> {
    format!("message {n} {}", "x".repeat((n % 97) as usize)).into_bytes()
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    storm("kill9", None).await;
}

/// Under group commit the acknowledgements wait for the sync, which covers both streams.
#[tokio::test]
async fn acknowledged_messages_survive_kill_9_under_sync_always() {
    storm(
        "kill9-always",
        Some("jetstream { sync_interval: always }\n"),
    )
    .await;
}

/// Publishes to two streams with up to 256 acknowledgements in flight, kills the server
/// partway through, restarts it and checks every acknowledged message. The server runs
/// with the configuration `conf` when there is one.
async fn storm(name: &str, conf: Option<&str>) {
    let dir = store_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut extra = Vec::new();
    if let Some(conf) = conf {
        let file = dir.join("natsd.conf");
        std::fs::write(&file, conf).unwrap();
        extra = vec!["-c".to_owned(), file.display().to_string()];
    }
    let mut server = start_with(&dir, &extra);
    let js = context(&server).await;
    for (stream, subjects) in [("STORM", "storm.>"), ("GALE", "gale.>")] {
        js.create_stream(stream::Config {
            name: stream.into(),
            subjects: vec![subjects.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let subject = |n: u32| {
        let prefix = if n.is_multiple_of(2) { "storm" } else { "gale" };
        format!("{prefix}.{}", n % 13)
    };
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut acked = Vec::new();
    let mut n = 0u32;
    while acked.len() < 3000 {
        while in_flight.len() < 256 {
            let ack = js.publish(subject(n), payload(n).into()).await.unwrap();
            in_flight.push(async move { (n, ack.await) });
            n += 1;
        }
        if let Some((sent, Ok(ack))) = in_flight.next().await {
            acked.push((ack.stream, ack.sequence, sent));
        }
    }
    kill_9(&server);
    server.wait_exit(WAIT).unwrap();
    while let Some((sent, result)) = in_flight.next().await {
        if let Ok(ack) = result {
            acked.push((ack.stream, ack.sequence, sent));
        }
    }
    let server = start_with(&dir, &extra);
    let js = context(&server).await;
    for name in ["STORM", "GALE"] {
        let mut stream = js.get_stream(name).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let ours: Vec<_> = acked.iter().filter(|(s, _, _)| s == name).collect();
        assert!(ours.len() > 1000, "{name}: {} acknowledged", ours.len());
        let highest = ours.iter().map(|(_, seq, _)| *seq).max().unwrap();
        assert!(state.last_sequence >= highest, "{state:?} < {highest}");
        for (_, seq, sent) in ours {
            let msg = stream.get_raw_message(*seq).await.unwrap();
            assert_eq!(msg.payload, payload(*sent), "{name} message {seq}");
            assert_eq!(msg.subject.as_str(), subject(*sent));
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Publishes 500 messages, kills the server, applies `damage` to the stream's block while
/// it is down, restarts it; checks that at most `may_lose` messages are missing, that all
/// it serves are the ones published, and that publishing goes on after them.
async fn restart_after_damage(name: &str, may_lose: u64, damage: impl FnOnce(&mut Vec<u8>)) {
    let dir = store_dir(name);
    let server = start(&dir);
    let js = context(&server).await;
    js.create_stream(stream::Config {
        name: "DAMAGE".into(),
        subjects: vec!["damage".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    for n in 0..500u32 {
        js.publish("damage", payload(n).into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    kill_9(&server);
    drop(server);
    let msgs = dir.join("jetstream/$G/streams/DAMAGE/msgs");
    let block = std::fs::read_dir(&msgs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "blk"))
        .unwrap();
    let mut bytes = std::fs::read(&block).unwrap();
    damage(&mut bytes);
    std::fs::write(&block, bytes).unwrap();
    let server = start(&dir);
    let js = context(&server).await;
    let mut stream = js.get_stream("DAMAGE").await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    assert!(state.messages >= 500 - may_lose, "{state:?}");
    let mut served = 0;
    for seq in 1..=500u64 {
        if let Ok(msg) = stream.get_raw_message(seq).await {
            assert_eq!(msg.payload, payload(seq as u32 - 1), "message {seq}");
            served += 1;
        }
    }
    assert!(served >= 500 - may_lose, "{served} served");
    let ack = js
        .publish("damage", "after".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(
        ack.sequence > state.last_sequence,
        "{ack:?} after {state:?}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn damaged_block_costs_only_its_damaged_records() {
    // Damage in the middle leaves the last sequence (500) in place: the next is 501.
    restart_after_damage("flip", 2, |bytes| {
        let middle = bytes.len() / 2;
        for at in [middle, middle + 1, middle + 2] {
            bytes[at] ^= 0x5a;
        }
    })
    .await;
}

#[tokio::test]
async fn torn_last_write_costs_only_the_last_record() {
    restart_after_damage("torn", 1, |bytes| {
        let torn = bytes.len() - 7;
        bytes.truncate(torn);
    })
    .await;
}
