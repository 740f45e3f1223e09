//! Streams through the official Rust client's JetStream API, against an in-process server
//! with the JetStream extension, and restarts over the same store directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage as Publish, stream};
use natsd_jetstream::JetStream;
use natsd_server::options::JetStreamOptions;
use natsd_server::{Logger, Server};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

struct Running {
    server: Server,
    js: Arc<JetStream>,
}

impl Running {
    async fn stop(self) {
        self.server.shutdown().await;
        self.js.close();
    }
}

fn store_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natsd-js-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn start(dir: &std::path::Path) -> Running {
    let mut opts = natsd_testkit::test_options();
    opts.jetstream = Some(JetStreamOptions::default());
    let js = Arc::new(JetStream::new(JetStreamOptions::default(), Some(dir)));
    js.prepare().unwrap();
    let log = Arc::new(Logger::to(Box::new(std::io::sink())));
    let server = Server::listen_with(
        opts,
        log,
        vec![js.clone() as Arc<dyn natsd_server::Extension>],
    )
    .await
    .unwrap();
    Running { server, js }
}

async fn context(running: &Running) -> jetstream::Context {
    let client = async_nats::connect(running.server.client_url())
        .await
        .unwrap();
    jetstream::new(client)
}

#[tokio::test]
async fn create_publish_info_get_and_delete() {
    let dir = store_dir("basic");
    let running = start(&dir).await;
    let js = context(&running).await;
    let mut stream = timeout(
        WAIT,
        js.create_stream(stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .unwrap();
    for n in 1..=3u64 {
        let ack = js
            .publish(format!("orders.{n}"), format!("order {n}").into())
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!((ack.stream.as_str(), ack.sequence), ("ORDERS", n));
    }
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, 3);
    assert_eq!(
        (info.state.first_sequence, info.state.last_sequence),
        (1, 3)
    );
    assert_eq!(info.config.max_messages, -1);
    let msg = stream.get_raw_message(2).await.unwrap();
    assert_eq!(
        (msg.subject.as_str(), &msg.payload[..]),
        ("orders.2", &b"order 2"[..])
    );
    let last = stream
        .get_last_raw_message_by_subject("orders.3")
        .await
        .unwrap();
    assert_eq!(last.sequence, 3);
    assert!(stream.delete_message(2).await.unwrap());
    assert!(stream.get_raw_message(2).await.is_err());
    let names: Vec<String> = futures::TryStreamExt::try_collect(js.stream_names())
        .await
        .unwrap();
    assert_eq!(names, ["ORDERS"]);
    assert!(js.delete_stream("ORDERS").await.unwrap().success);
    assert!(js.get_stream("ORDERS").await.is_err());
    running.stop().await;
}

#[tokio::test]
async fn msg_id_deduplicates_and_expected_headers_are_checked() {
    let dir = store_dir("dedupe");
    let running = start(&dir).await;
    let js = context(&running).await;
    js.create_stream(stream::Config {
        name: "D".into(),
        subjects: vec!["d.*".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let first = js
        .send_publish("d.a", Publish::build().payload("x".into()).message_id("m1"))
        .await
        .unwrap()
        .await
        .unwrap();
    let again = js
        .send_publish("d.a", Publish::build().payload("x".into()).message_id("m1"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(first.sequence, again.sequence);
    assert!(again.duplicate && !first.duplicate);
    let wrong = js
        .send_publish(
            "d.a",
            Publish::build()
                .payload("y".into())
                .expected_last_sequence(7),
        )
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(
        wrong.to_string().contains("wrong last sequence: 1"),
        "{wrong}"
    );
    let subject_seq = js
        .send_publish(
            "d.b",
            Publish::build()
                .payload("z".into())
                .expected_last_subject_sequence(0),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(subject_seq.sequence, 2);
    let other_stream = js
        .send_publish(
            "d.b",
            Publish::build()
                .payload("z".into())
                .expected_stream("OTHER"),
        )
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(other_stream
        .to_string()
        .contains("expected stream does not match"));
    running.stop().await;
}

#[tokio::test]
async fn limits_drop_old_or_refuse_new_messages() {
    let dir = store_dir("limits");
    let running = start(&dir).await;
    let js = context(&running).await;
    let mut old = js
        .create_stream(stream::Config {
            name: "OLD".into(),
            subjects: vec!["old.*".into()],
            max_messages: 2,
            max_messages_per_subject: 1,
            storage: stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();
    for subject in ["old.a", "old.a", "old.b", "old.c"] {
        js.publish(subject, "v".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let state = old.info().await.unwrap().state.clone();
    assert_eq!(
        (state.messages, state.first_sequence, state.last_sequence),
        (2, 3, 4)
    );
    js.create_stream(stream::Config {
        name: "NEW".into(),
        subjects: vec!["new".into()],
        max_messages: 1,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .unwrap();
    js.publish("new", "1".into()).await.unwrap().await.unwrap();
    let refused = js
        .publish("new", "2".into())
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("maximum messages exceeded"),
        "{refused}"
    );
    running.stop().await;
}

#[tokio::test]
async fn config_errors_are_nats_servers() {
    let dir = store_dir("errors");
    let running = start(&dir).await;
    let js = context(&running).await;
    js.create_stream(stream::Config {
        name: "A".into(),
        subjects: vec!["a.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let overlap = js
        .create_stream(stream::Config {
            name: "B".into(),
            subjects: vec!["a.b".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        overlap.to_string().contains("subjects overlap"),
        "{overlap}"
    );
    let changed = js
        .create_stream(stream::Config {
            name: "A".into(),
            subjects: vec!["a.>".into()],
            max_messages: 5,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(changed.to_string().contains("already in use"), "{changed}");
    running.stop().await;
}

#[tokio::test]
async fn purge_with_filter_and_keep() {
    let dir = store_dir("purge");
    let running = start(&dir).await;
    let js = context(&running).await;
    let stream = js
        .create_stream(stream::Config {
            name: "P".into(),
            subjects: vec!["p.*".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    for subject in ["p.a", "p.b", "p.a", "p.a"] {
        js.publish(subject, "v".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let purged = stream.purge().filter("p.a").keep(1).await.unwrap();
    assert_eq!(purged.purged, 2);
    let purged = stream.purge().await.unwrap();
    assert_eq!(purged.purged, 2);
    running.stop().await;
}

#[tokio::test]
async fn acknowledged_messages_survive_a_restart() {
    let dir = store_dir("restart");
    let running = start(&dir).await;
    let js = context(&running).await;
    js.create_stream(stream::Config {
        name: "KEEP".into(),
        subjects: vec!["keep.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut acks = Vec::new();
    for n in 0..200u32 {
        acks.push(
            js.publish(format!("keep.{}", n % 7), n.to_string().into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
    running.stop().await;
    let running = start(&dir).await;
    let js = context(&running).await;
    let mut stream = js.get_stream("KEEP").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 200);
    for seq in [1u64, 100, 200] {
        let msg = stream.get_raw_message(seq).await.unwrap();
        assert_eq!(msg.payload, (seq - 1).to_string().as_bytes());
    }
    let ack = js
        .publish("keep.x", "after".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ack.sequence, 201);
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Message ids within the window are remembered after a clean restart (from the state
/// the close saved) and after one without a close (read back from the messages).
#[tokio::test]
async fn message_ids_are_remembered_across_restarts() {
    let dir = store_dir("dedupe-restart");
    let running = start(&dir).await;
    let js = context(&running).await;
    js.create_stream(stream::Config {
        name: "IDS".into(),
        subjects: vec!["ids.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    for n in 1..=3 {
        let id = format!("id-{n}");
        js.send_publish("ids.a", Publish::build().message_id(id).payload("x".into()))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut running = Some(running);
    for clean in [true, false] {
        let stopping = running.take().unwrap();
        if clean {
            stopping.stop().await;
        } else {
            // No close: nothing is saved, as after a crash.
            stopping.server.shutdown().await;
        }
        let restarted = start(&dir).await;
        let js = context(&restarted).await;
        let again = js
            .send_publish(
                "ids.a",
                Publish::build().message_id("id-2").payload("y".into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(again.duplicate, "clean restart {clean}: {again:?}");
        assert_eq!(again.sequence, 2);
        let expected_last = js
            .send_publish(
                "ids.a",
                Publish::build()
                    .expected_last_message_id("id-3")
                    .payload("z".into()),
            )
            .await
            .unwrap()
            .await;
        // id-3 is last until the first of these publishes stores a message without one.
        assert_eq!(expected_last.is_ok(), clean, "{expected_last:?}");
        running = Some(restarted);
    }
    running.unwrap().stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn direct_get_answers_with_stream_headers() {
    let dir = store_dir("direct");
    let running = start(&dir).await;
    let js = context(&running).await;
    let stream = js
        .create_stream(stream::Config {
            name: "KV_x".into(),
            subjects: vec!["$KV.x.>".into()],
            allow_direct: true,
            max_messages_per_subject: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    js.publish("$KV.x.k", "v1".into())
        .await
        .unwrap()
        .await
        .unwrap();
    js.publish("$KV.x.k", "v2".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let msg = stream.direct_get_last_for_subject("$KV.x.k").await.unwrap();
    assert_eq!(&msg.payload[..], b"v2");
    assert_eq!(msg.sequence, 2);
    assert!(stream.direct_get(1).await.is_err());
    running.stop().await;
}
