//! The server's seams as something plugged into it sees them: internal clients in any
//! account, interest observers, and extensions told of the server's start and of each
//! account as it loads.

use std::sync::Arc;
use std::time::Duration;

use natsd_server::account::{Account, InterestChange, InterestObserver};
use natsd_server::{Extension, Flusher, InternalMsg, Logger, Server, ServerError};
use natsd_testkit::{options_from_config, start, wait_for, RawConn};
use std::sync::Mutex;

const WAIT: Duration = Duration::from_secs(5);

const TWO_ACCOUNTS: &str = "accounts {\n  A { users: [ {user: a, password: p} ] }\n  \
                            B { users: [ {user: b, password: p} ] }\n}\n";

async fn connect_as(server: &Server, user: &str) -> RawConn {
    let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
    conn.send(format!(
        "CONNECT {{\"verbose\":false,\"headers\":true,\"no_responders\":true,\"user\":\"{user}\",\"pass\":\"p\"}}\r\nPING\r\n"
    ))
    .await
    .unwrap();
    conn.expect("PONG\r\n").await.unwrap();
    conn
}

#[tokio::test]
async fn an_internal_client_serves_its_own_account_only() {
    let server = start(options_from_config(TWO_ACCOUNTS)).await.unwrap();
    let service = server.internal_client(Some("A"));
    let responder = service.clone();
    service
        .subscribe(
            "svc.echo",
            None,
            Arc::new(move |msg: InternalMsg, flusher: &mut Flusher| {
                let Some(reply) = msg.reply.clone() else {
                    return;
                };
                // Headers and body go back as they came, through the requester's flusher.
                responder.publish(&reply, b"", msg.header_len, msg.payload, flusher);
            }),
        )
        .unwrap();

    let mut a = connect_as(&server, "a").await;
    a.send(
        "SUB _INBOX.a 1\r\nHPUB svc.echo _INBOX.a 18 20\r\nNATS/1.0\r\nX: 1\r\n\r\nhi\r\nPING\r\n",
    )
    .await
    .unwrap();
    a.expect("HMSG _INBOX.a 1 18 20\r\nNATS/1.0\r\nX: 1\r\n\r\nhi\r\nPONG\r\n")
        .await
        .unwrap();

    // Account B does not see A's internal subscriber: nobody answers there.
    let mut b = connect_as(&server, "b").await;
    b.send("SUB _INBOX.b 1\r\nPUB svc.echo _INBOX.b 2\r\nhi\r\nPING\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    b.read_until(WAIT, |received| {
        seen = String::from_utf8_lossy(received).into_owned();
        seen.ends_with("PONG\r\n")
    })
    .await
    .unwrap();
    assert!(seen.contains("NATS/1.0 503"), "{seen}");
    assert!(!seen.contains("hi"), "{seen}");
}

/// Records every change of interest it is told about.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Option<String>, bool)>>);

impl InterestObserver for Recorder {
    fn interest_changed(&self, _account: &Account, change: InterestChange<'_>) {
        self.0.lock().unwrap().push((
            String::from_utf8_lossy(change.subject).into_owned(),
            change
                .queue
                .map(|q| String::from_utf8_lossy(q).into_owned()),
            change.present,
        ));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(String, Option<String>, bool)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn change(subject: &str, queue: Option<&str>, present: bool) -> (String, Option<String>, bool) {
    (subject.to_owned(), queue.map(str::to_owned), present)
}

#[tokio::test]
async fn the_account_tells_observers_when_interest_appears_and_goes() {
    let server = start(options_from_config(TWO_ACCOUNTS)).await.unwrap();
    let mut a = connect_as(&server, "a").await;
    a.send("SUB early 1\r\nPING\r\n").await.unwrap();
    a.expect("PONG\r\n").await.unwrap();

    let recorder = Arc::new(Recorder::default());
    let account = Arc::clone(server.internal_client(Some("A")).account());
    account.observe_interest(Arc::clone(&recorder) as Arc<dyn InterestObserver>);
    // A late observer first hears of the interest there is already, the server's own
    // subscriptions in the account included.
    let mut present = recorder.take();
    present.sort();
    assert_eq!(
        present,
        vec![
            change("$SYS.REQ.ACCOUNT.PING.CONNZ", None, true),
            change("$SYS.REQ.SERVER.PING.CONNZ", None, true),
            change("$SYS.REQ.USER.INFO", None, true),
            change("early", None, true),
        ]
    );

    a.send("SUB foo 2\r\nSUB foo 3\r\nSUB foo q 4\r\nPING\r\n")
        .await
        .unwrap();
    a.expect("PONG\r\n").await.unwrap();
    assert_eq!(
        recorder.take(),
        vec![change("foo", None, true), change("foo", Some("q"), true)]
    );

    // Interest stays while one subscription on the subject remains.
    a.send("UNSUB 2\r\nPING\r\n").await.unwrap();
    a.expect("PONG\r\n").await.unwrap();
    assert_eq!(recorder.take(), vec![]);
    a.send("UNSUB 3\r\nPING\r\n").await.unwrap();
    a.expect("PONG\r\n").await.unwrap();
    assert_eq!(recorder.take(), vec![change("foo", None, false)]);

    // Another account's interest is not this account's.
    let mut b = connect_as(&server, "b").await;
    b.send("SUB foo 1\r\nPING\r\n").await.unwrap();
    b.expect("PONG\r\n").await.unwrap();
    assert_eq!(recorder.take(), vec![]);

    // A closing client takes its interest with it.
    drop(a);
    wait_for(WAIT, || recorder.0.lock().unwrap().len() >= 2)
        .await
        .unwrap();
    let mut gone = recorder.take();
    gone.sort();
    assert_eq!(
        gone,
        vec![
            change("early", None, false),
            change("foo", Some("q"), false)
        ]
    );
}

/// Notes what it is told.
#[derive(Default)]
struct Watcher {
    started: Mutex<usize>,
    loaded: Mutex<Vec<String>>,
}

impl Extension for Watcher {
    fn started(&self, server: &Server) -> Result<(), ServerError> {
        // Started before any client is accepted, with the server's state in place.
        assert_eq!(server.num_clients(), 0);
        *self.started.lock().unwrap() += 1;
        Ok(())
    }

    fn account_loaded(&self, _server: &Server, account: &Arc<Account>) -> Result<(), ServerError> {
        self.loaded.lock().unwrap().push(account.name.clone());
        Ok(())
    }
}

#[tokio::test]
async fn extensions_hear_of_the_start_and_of_every_account_as_it_loads() {
    let watcher = Arc::new(Watcher::default());
    let server = Server::listen_with(
        options_from_config("accounts { A { users: [ {user: a, password: p} ] } }\n"),
        Arc::new(Logger::to(Box::new(std::io::sink()))),
        vec![Arc::clone(&watcher) as Arc<dyn Extension>],
    )
    .await
    .unwrap();
    assert_eq!(*watcher.started.lock().unwrap(), 1);
    let mut loaded = watcher.loaded.lock().unwrap().clone();
    loaded.sort();
    assert_eq!(loaded, vec!["$G", "$SYS", "A"]);

    // An account a reload adds loads on first use, and the extension hears of it then.
    server.reload(options_from_config(TWO_ACCOUNTS)).unwrap();
    assert!(!watcher.loaded.lock().unwrap().contains(&"B".to_owned()));
    let _b = connect_as(&server, "b").await;
    assert_eq!(
        watcher.loaded.lock().unwrap().last().map(String::as_str),
        Some("B")
    );
    assert_eq!(*watcher.started.lock().unwrap(), 1);
}
