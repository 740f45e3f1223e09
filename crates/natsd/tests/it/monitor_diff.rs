//! natsd and the reference nats-server, started from the same config file with the same
//! client traffic: the ports files have the same shape, and the monitoring endpoints the
//! same keys with the same JSON types, and the same values where they are not specific to
//! one server.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use natsd_testkit::http::get_json;
use natsd_testkit::process::ServerProcess;
use natsd_testkit::RawConn;
use serde_json::Value;

/// Keys that only one side has.
const ONLY_REFERENCE: &[&str] = &[];
const ONLY_NATSD: &[&str] = &["natsd_version"];
/// Objects whose keys are a server's own (flags of its JetStream implementation).
const FREE_FORM: &[&str] = &["feature_flags", "http_req_stats"];

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One value with every key of the array's objects (the first value seen for each), or
/// the first element when they are not objects.
fn merged(items: &[Value]) -> Value {
    if !items.iter().all(Value::is_object) {
        return items[0].clone();
    }
    let mut all = serde_json::Map::new();
    for item in items {
        for (key, value) in item.as_object().into_iter().flatten() {
            all.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Value::Object(all)
}

/// Same keys (but for the documented differences) and same types, recursively; arrays
/// compare their elements merged.
fn same_shape(path: &str, ours: &Value, theirs: &Value, problems: &mut Vec<String>) {
    let (a, b) = (type_name(ours), type_name(theirs));
    // Go writes whole floats without a fraction; a figure such as `cpu` may be whole on one
    // side and not on the other.
    let numbers = matches!((a, b), ("integer" | "float", "integer" | "float"));
    if a != b && !numbers {
        problems.push(format!("{path}: natsd has {a}, nats-server has {b}"));
        return;
    }
    match (ours, theirs) {
        (Value::Object(x), Value::Object(y)) => {
            if FREE_FORM.iter().any(|k| path.ends_with(k)) {
                return;
            }
            let xs: BTreeSet<_> = x
                .keys()
                .filter(|k| !ONLY_NATSD.contains(&k.as_str()))
                .collect();
            let ys: BTreeSet<_> = y
                .keys()
                .filter(|k| !ONLY_REFERENCE.contains(&k.as_str()))
                .collect();
            for key in xs.symmetric_difference(&ys) {
                let side = if xs.contains(key) {
                    "natsd"
                } else {
                    "nats-server"
                };
                problems.push(format!("{path}.{key}: only {side} has it"));
            }
            for key in xs.intersection(&ys) {
                same_shape(
                    &format!("{path}.{key}"),
                    &x[key.as_str()],
                    &y[key.as_str()],
                    problems,
                );
            }
        }
        // Elements merged into one (every key any of them has): nats-server lists some
        // things (a connection's subscriptions) in map order, so the first elements of the
        // two sides need not be alike.
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                problems.push(format!(
                    "{path}: natsd lists {}, nats-server {}",
                    x.len(),
                    y.len()
                ));
            }
            if !x.is_empty() && !y.is_empty() {
                same_shape(&format!("{path}[*]"), &merged(x), &merged(y), problems);
            }
        }
        _ => {}
    }
}

fn same_values(
    what: &str,
    ours: &Value,
    theirs: &Value,
    keys: &[&str],
    problems: &mut Vec<String>,
) {
    for key in keys {
        if ours[key] != theirs[key] {
            problems.push(format!(
                "{what}.{key}: natsd {} vs nats-server {}",
                ours[key], theirs[key]
            ));
        }
    }
}

struct Side {
    _process: ServerProcess,
    ports: Value,
    monitoring: SocketAddr,
}

async fn start(program: &Path, dir: &Path, exe: &str) -> Side {
    let config = dir.join("server.conf");
    let process =
        ServerProcess::start(program, &["-c".to_owned(), config.display().to_string()]).unwrap();
    let path = dir.join(format!("{exe}_{}.ports", process.pid()));
    // nats-server may finish writing the file just after it reports ready.
    let read = || -> Option<Value> {
        let text = std::fs::read_to_string(&path).ok()?;
        serde_json::from_str(&text).ok()
    };
    natsd_testkit::wait_for(std::time::Duration::from_secs(10), || read().is_some())
        .await
        .unwrap_or_else(|_| panic!("no ports file {}", path.display()));
    let ports = read().unwrap();
    let monitoring = ports["monitoring"][0]
        .as_str()
        .unwrap()
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    Side {
        _process: process,
        ports,
        monitoring,
    }
}

/// The same client traffic on each server; the connection stays open for `/connz`.
async fn traffic(addr: SocketAddr) -> RawConn {
    let (mut conn, _) = RawConn::connect(addr).await.unwrap();
    conn.send(
        "CONNECT {\"verbose\":false,\"name\":\"probe\",\"lang\":\"rust\",\"version\":\"1.0\",\"headers\":true,\"protocol\":1}\r\n\
         SUB foo 1\r\nSUB bar q 2\r\nUNSUB 2 10\r\nPUB foo 5\r\nhello\r\nPING\r\n",
    )
    .await
    .unwrap();
    conn.expect("MSG foo 1 5\r\nhello\r\nPONG\r\n")
        .await
        .unwrap();
    conn
}

/// natsd and the reference, each started from the same config file (`extra` after the
/// common lines, `{dir}` in it standing for the side's directory) in its own directory
/// under `base`.
async fn start_both(reference: &Path, base: &Path, extra: &str) -> Vec<Side> {
    let mut sides = Vec::new();
    for (name, program) in [
        (
            "natsd",
            Path::new(env!("CARGO_BIN_EXE_natsd")).to_path_buf(),
        ),
        ("reference", reference.to_path_buf()),
    ] {
        let exe = program.file_name().unwrap().to_string_lossy().into_owned();
        let dir = base.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("server.conf"),
            format!(
                "host: 127.0.0.1\nport: -1\nhttp: \"127.0.0.1:-1\"\nports_file_dir: \"{}\"\n\
                 max_payload: 64KB\nping_interval: \"30s\"\nserver_tags: [ \"az:1\" ]\n{}",
                dir.display(),
                extra.replace("{dir}", &dir.display().to_string())
            ),
        )
        .unwrap();
        sides.push(start(&program, &dir, &exe).await);
    }
    sides
}

fn client_url(side: &Side) -> String {
    side.ports["nats"][0].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn monitoring_matches_the_reference() {
    let Some(reference) = natsd_testkit::process::reference_for_test() else {
        return;
    };
    let base = std::env::temp_dir().join(format!("natsd-monitor-diff-{}", std::process::id()));
    let sides = start_both(&reference, &base, "").await;
    let mut problems = Vec::new();
    same_shape("ports", &sides[0].ports, &sides[1].ports, &mut problems);

    let mut conns = Vec::new();
    for side in &sides {
        let nats: SocketAddr = client_url(side)["nats://".len()..].parse().unwrap();
        conns.push(traffic(nats).await);
    }
    let (ours_at, theirs_at) = (sides[0].monitoring, sides[1].monitoring);
    let fetch = |path: &'static str| async move {
        (
            get_json(ours_at, path).await.unwrap(),
            get_json(theirs_at, path).await.unwrap(),
        )
    };
    for path in [
        "/varz",
        "/connz?subs=detail",
        "/connz?subs=1&auth=1",
        "/subsz?subs=1&test=foo",
        "/routez",
        "/gatewayz",
        "/leafz",
        "/accountz",
        "/accstatz",
        "/jsz",
        "/healthz",
    ] {
        let (ours, theirs) = fetch(path).await;
        same_shape(path, &ours, &theirs, &mut problems);
    }

    let (ours, theirs) = fetch("/varz").await;
    same_values(
        "varz",
        &ours,
        &theirs,
        &[
            "version",
            "proto",
            "host",
            "max_connections",
            "ping_interval",
            "ping_max",
            "http_host",
            "http_port",
            "http_base_path",
            "https_port",
            "auth_timeout",
            "max_control_line",
            "max_payload",
            "max_pending",
            "tls_timeout",
            "write_deadline",
            "connections",
            "total_connections",
            "routes",
            "remotes",
            "leafnodes",
            "in_msgs",
            "in_bytes",
            "out_msgs",
            "out_bytes",
            "in_client_msgs",
            "out_client_msgs",
            "slow_consumers",
            "stale_connections",
            "tags",
            "cluster",
            "gateway",
            "leaf",
            "mqtt",
            "websocket",
            "jetstream",
        ],
        &mut problems,
    );
    let (ours, theirs) = fetch("/connz?subs=detail").await;
    same_values(
        "connz",
        &ours,
        &theirs,
        &["num_connections", "total", "offset", "limit"],
        &mut problems,
    );
    // Connection ids are each server's own (nats-server's internal clients take the first),
    // and nats-server lists a connection's subscriptions in map order.
    let without_cid = |conn: &Value| {
        let mut conn = conn.clone();
        if let Some(subs) = conn["subscriptions_list_detail"].as_array_mut() {
            for sub in subs.iter_mut() {
                sub.as_object_mut().map(|s| s.remove("cid"));
            }
            subs.sort_by_key(|sub| sub["sid"].as_str().unwrap_or_default().to_owned());
        }
        conn
    };
    let (a, b) = (
        &without_cid(&ours["connections"][0]),
        &without_cid(&theirs["connections"][0]),
    );
    same_values(
        "connz.connections[0]",
        a,
        b,
        &[
            "kind",
            "type",
            "ip",
            "pending_bytes",
            "in_msgs",
            "out_msgs",
            "in_bytes",
            "out_bytes",
            "subscriptions",
            "name",
            "lang",
            "version",
            "subscriptions_list_detail",
        ],
        &mut problems,
    );
    drop(conns);
    let _ = std::fs::remove_dir_all(&base);
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

/// The `$SYS.REQ.SERVER.PING.<X>` replies, asked from the system account, have the same
/// shape on both servers, and the same values where they are not a server's own.
#[tokio::test]
async fn system_replies_match_the_reference() {
    let Some(reference) = natsd_testkit::process::reference_for_test() else {
        return;
    };
    let base = std::env::temp_dir().join(format!("natsd-sys-diff-{}", std::process::id()));
    let sides = start_both(
        &reference,
        &base,
        "accounts { SYS { users [{user: sys, password: sys}] } }\nsystem_account: SYS\n",
    )
    .await;
    let mut clients = Vec::new();
    for side in &sides {
        let client = async_nats::ConnectOptions::with_user_and_password("sys".into(), "sys".into())
            .connect(client_url(side))
            .await
            .unwrap();
        clients.push(client);
    }
    let mut problems = Vec::new();
    for kind in [
        "STATSZ", "IDZ", "VARZ", "CONNZ", "SUBSZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "ACCOUNTZ",
        "JSZ", "HEALTHZ",
    ] {
        let mut replies = Vec::new();
        for client in &clients {
            let reply = client
                .request(format!("$SYS.REQ.SERVER.PING.{kind}"), "".into())
                .await
                .unwrap();
            replies.push(serde_json::from_slice::<Value>(&reply.payload).unwrap());
        }
        let (ours, theirs) = (&replies[0], &replies[1]);
        same_shape(&format!("$SYS {kind}"), ours, theirs, &mut problems);
        match kind {
            "HEALTHZ" => same_values(
                "$SYS HEALTHZ",
                &ours["data"],
                &theirs["data"],
                &["status", "status_code"],
                &mut problems,
            ),
            "STATSZ" => same_values(
                "$SYS STATSZ",
                &ours["statsz"],
                &theirs["statsz"],
                &[
                    "cores",
                    "gomaxprocs",
                    "connections",
                    "total_connections",
                    "active_servers",
                ],
                &mut problems,
            ),
            _ => {}
        }
    }
    drop(clients);
    drop(sides);
    let _ = std::fs::remove_dir_all(&base);
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

/// With JetStream on and the same stream on both servers, `/jsz` (plain and with every
/// detail), the `jetstream` part of `/varz` and the `/healthz` JetStream checks have the
/// same shape, and the same values where they are not a server's own; the health checks
/// answer with the same status and body.
#[tokio::test]
async fn jetstream_monitoring_matches_the_reference() {
    let Some(reference) = natsd_testkit::process::reference_for_test() else {
        return;
    };
    let base = std::env::temp_dir().join(format!("natsd-js-monitor-diff-{}", std::process::id()));
    let sides = start_both(
        &reference,
        &base,
        "server_name: same\njetstream { store_dir: \"{dir}/store\" }\n",
    )
    .await;
    for side in &sides {
        let client = async_nats::connect(client_url(side)).await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "S".into(),
            subjects: vec!["s.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        for subject in ["s.a", "s.b", "s.a"] {
            js.publish(subject, "hello".into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }
    let mut problems = Vec::new();
    let (ours_at, theirs_at) = (sides[0].monitoring, sides[1].monitoring);
    let fetch = |path: &'static str| async move {
        let mut theirs = get_json(theirs_at, path).await.unwrap();
        // A limit nats-server 2.15.1 always reports, which natsd has no use for yet.
        if let Some(limits) = theirs.pointer_mut("/limits").and_then(Value::as_object_mut) {
            limits.remove("default_max_consumers");
        }
        if let Some(limits) = theirs
            .pointer_mut("/jetstream/limits")
            .and_then(Value::as_object_mut)
        {
            limits.remove("default_max_consumers");
        }
        (get_json(ours_at, path).await.unwrap(), theirs)
    };
    for path in ["/jsz", "/jsz?accounts=true&streams=true&config=true"] {
        let (ours, theirs) = fetch(path).await;
        same_shape(path, &ours, &theirs, &mut problems);
        same_values(
            path,
            &ours,
            &theirs,
            &["accounts", "streams", "consumers", "messages", "total"],
            &mut problems,
        );
        let (a, b) = (&ours["account_details"], &theirs["account_details"]);
        same_values(path, &a[0], &b[0], &["name", "id"], &mut problems);
        let (a, b) = (&a[0]["stream_detail"][0], &b[0]["stream_detail"][0]);
        same_values(path, a, b, &["name", "cluster", "config"], &mut problems);
        same_values(
            path,
            &a["state"],
            &b["state"],
            &["messages", "first_seq", "last_seq", "num_subjects"],
            &mut problems,
        );
    }
    let (ours, theirs) = fetch("/varz").await;
    same_shape(
        "/varz.jetstream",
        &ours["jetstream"],
        &theirs["jetstream"],
        &mut problems,
    );
    for path in [
        "/healthz?js-enabled-only=true",
        "/healthz?account=$G",
        "/healthz?account=$G&stream=S",
        "/healthz?account=NOPE",
        "/healthz?account=$G&stream=X",
        "/healthz?account=$G&stream=S&consumer=C",
        "/healthz?stream=S",
        "/healthz?account=$G&consumer=C",
        "/healthz?details=true&account=$G&stream=X",
        "/healthz?details=true&stream=S",
    ] {
        let ours = natsd_testkit::http::get(ours_at, path).await.unwrap();
        let theirs = natsd_testkit::http::get(theirs_at, path).await.unwrap();
        if ours != theirs {
            problems.push(format!("{path}: natsd {ours:?} vs nats-server {theirs:?}"));
        }
    }
    drop(sides);
    let _ = std::fs::remove_dir_all(&base);
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}
