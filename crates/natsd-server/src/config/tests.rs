use super::*;
use natsd_conf::{parse_str, System};

fn apply_text(text: &str) -> (Options, ConfigReport) {
    let map = match parse_str(text, &System) {
        Ok(map) => map,
        Err(error) => panic!("{error}"),
    };
    let mut opts = Options::default();
    let report = apply(&mut opts, &map);
    (opts, report)
}

#[test]
fn core_keys_apply() {
    let (opts, report) = apply_text(
        "listen: 127.0.0.2:-1\nserver_name: a\nMAX_PAYLOAD: 2KB\nping_interval: \"30s\"\n\
         http: \"127.0.0.1:8222\"\nserver_tags: [x:1, \"y\"]\nmax_connections: 0\n\
         authorization { user: u, password: p, timeout: 1.5 }\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(opts.host, "127.0.0.2");
    assert_eq!(opts.port, None);
    assert_eq!(opts.server_name.as_deref(), Some("a"));
    assert_eq!(opts.max_payload, 2048);
    assert_eq!(opts.ping_interval, Duration::from_secs(30));
    assert_eq!(
        (opts.http_host.as_deref(), opts.http_port),
        (Some("127.0.0.1"), 8222)
    );
    assert_eq!(opts.server_tags, ["x:1", "y"]);
    assert_eq!(opts.max_connections, usize::MAX);
    assert_eq!(opts.authorization.users[0].name, "u");
    assert_eq!(opts.auth_timeout, Some(Duration::from_millis(1500)));
}

#[test]
fn handshake_first_takes_a_bool_a_word_or_a_fallback_delay() {
    let ms = Duration::from_millis;
    for (value, want) in [
        ("true", (true, None)),
        ("off", (false, None)),
        ("\"on\"", (true, None)),
        ("auto", (true, Some(ms(50)))),
        ("auto_fallback", (true, Some(ms(50)))),
        ("300ms", (true, Some(ms(300)))),
    ] {
        let (opts, report) = apply_text(&format!(
            "tls {{ cert_file: c, key_file: k, handshake_first: {value} }}"
        ));
        assert!(report.errors.is_empty(), "{value}: {:?}", report.errors);
        let tls = opts.tls.unwrap_or_default();
        assert_eq!(
            (tls.handshake_first, tls.handshake_first_fallback),
            want,
            "{value}"
        );
    }
    let (_, report) = apply_text("tls { cert_file: c, key_file: k, first: soon }");
    let errors: Vec<_> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors, ["1:41: field \"first\" value \"soon\" is invalid"]);
    let (_, report) = apply_text("tls { cert_file: c, key_file: k, immediate: 5 }");
    let errors: Vec<_> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["1:45: field \"immediate\" should be a boolean or string, got integer"]
    );
}

#[test]
fn problems_are_located() {
    let (_, report) = apply_text("port: 1\nfoo: 2\ncluster { bogus: 1 }\nmax_payload: \"x\"\n");
    let errors: Vec<_> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "2:1: unknown field \"foo\"",
            "3:11: unknown field \"bogus\"",
            "4:14: expected an integer, got string"
        ]
    );
    let (opts, report) = apply_text("ping_interval: 5\n");
    assert_eq!(opts.ping_interval, Duration::from_secs(5));
    assert_eq!(
        report.warnings[0].to_string(),
        "1:16: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"
    );
}

#[test]
fn capabilities_not_served_are_reported() {
    let (_, report) = apply_text(
        "leafnodes { listen: \"127.0.0.1:-1\" }\nwebsocket { port: -1, no_tls: true }\n\
         jetstream: enabled\ncluster { name: c }\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.unsupported, ["leafnodes", "websocket", "cluster"]);
}

#[test]
fn jetstream_block_and_account_limits() {
    let (opts, report) = apply_text(
        "store_dir: data\njetstream { max_mem: 1G, max_file: \"2G\", domain: hub, \
         sync_interval: always, limits { duplicate_window: \"1m\" } }\n\
         accounts { A { jetstream { max_streams: 3, max_bytes_required: true } }, B {} }\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let js = opts.jetstream.expect("enabled");
    assert_eq!(
        opts.store_dir.as_deref(),
        Some(std::path::Path::new("data"))
    );
    assert_eq!(
        js.max_memory,
        Some(1_000_000_000),
        "the lexer reads 1G in thousands"
    );
    assert_eq!(js.max_store, Some(2 << 30));
    assert_eq!(js.domain.as_deref(), Some("hub"));
    assert_eq!(js.sync, crate::options::SyncPolicy::Always);
    assert_eq!(
        js.limits.duplicate_window,
        Some(std::time::Duration::from_secs(60))
    );
    let a = opts.accounts.iter().find(|a| a.name == "A").expect("A");
    let limits = a.jetstream.expect("A has JetStream");
    assert_eq!((limits.max_streams, limits.max_bytes_required), (3, true));
    assert!(opts
        .accounts
        .iter()
        .any(|a| a.name == "B" && a.jetstream.is_none()));
}

#[test]
fn jetstream_errors_are_nats_servers() {
    let (_, report) = apply_text("jetstream: maybe\n");
    assert_eq!(
        report.errors[0].message,
        "Expected 'enabled' or 'disabled' for string value, got 'maybe'"
    );
    let (_, report) = apply_text("store_dir: a\njetstream { store_dir: b }\n");
    assert_eq!(
        report.errors[0].message,
        "Duplicate 'store_dir' configuration"
    );
    let (opts, _) = apply_text("jetstream { enabled: false }\n");
    assert!(opts.jetstream.is_none());
}

#[test]
fn users_with_permissions() {
    let (opts, report) = apply_text(
        "authorization {\n  default_permissions { publish: \"SANDBOX.*\", subscribe: [\"PUBLIC.>\"] }\n\
         users = [\n    {user: a, password: pa, permissions: {publish: {allow: [\"req.>\"], deny: \"req.secret\"}, \
         subscribe: {deny: \"secret.>\"}, allow_responses: {max: 3, expires: \"1m\"}}}\n    {user: b, password: pb}\n  ]\n}\n\
         no_auth_user: b\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let auth = &opts.authorization;
    let a = auth.users[0].permissions.clone().unwrap_or_default();
    assert!(a.can_publish(b"req.x") && !a.can_publish(b"req.secret"));
    assert!(!a.can_subscribe(b"secret.x", None));
    assert_eq!(
        a.allow_responses,
        Some(ResponsePermission {
            max_msgs: 3,
            expires: Duration::from_secs(60)
        })
    );
    let defaults = auth.default_permissions.clone().unwrap_or_default();
    assert!(defaults.can_publish(b"SANDBOX.x") && !defaults.can_publish(b"other"));
    assert_eq!(auth.no_auth_user.as_deref(), Some("b"));

    let (_, report) =
        apply_text("no_auth_user: ghost\nauthorization { users: [{user: a, password: b}] }\n");
    assert!(
        report.errors[0].message.contains("not present as user"),
        "{:?}",
        report.errors
    );
    let (_, report) = apply_text("authorization { users: [{nkey: UNOTANKEY}] }\n");
    assert!(
        report.errors[0].message.contains("Not a valid public nkey"),
        "{:?}",
        report.errors
    );
}

#[test]
fn variables_are_not_unknown_keys() {
    let (opts, report) = apply_text("limit = 100\nmax_payload: $limit\n");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(opts.max_payload, 100);
}

fn first_error(text: &str) -> String {
    let (_, report) = apply_text(text);
    report
        .errors
        .first()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[test]
fn resolver_settings() {
    let (opts, report) = apply_text("resolver: MEMORY\n");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(opts.resolver.map(|r| r.kind), Some(ResolverKind::Memory));
    let (opts, report) =
        apply_text("resolver { type: cache, dir: \"/tmp/x\", ttl: \"1h\", limit: 10 }\n");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let resolver = opts.resolver.unwrap_or_default();
    assert_eq!(
        (resolver.kind, resolver.limit, resolver.ttl),
        (ResolverKind::Cache, 10, Duration::from_secs(3600))
    );
    for (text, error) in [
        ("resolver: 42\n", "1:11: error parsing account resolver"),
        ("resolver { type: full }\n", "dir has no value"),
        (
            "resolver { type: cache, dir: x, allow_delete: true }\n",
            "CACHE does not accept allow_delete",
        ),
        (
            "resolver { type: full, dir: x, ttl: \"1m\" }\n",
            "FULL does not accept ttl",
        ),
        (
            "resolver { type: full, dir: x, hard_delete: true }\n",
            "hard_delete has no effect without delete",
        ),
        (
            "resolver { type: full, dir: x, colour: red }\n",
            "unknown field",
        ),
    ] {
        let found = first_error(text);
        assert!(found.contains(error), "{text}: {found}");
    }
}

#[test]
fn tls_cipher_suites_and_curves() {
    let tls = |extra: &str| format!("tls {{ cert_file: c.pem, key_file: k.pem, {extra} }}\n");
    let (opts, report) = apply_text(&tls(
        "cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA], curve_preferences: [CurveP384, CurveP521]",
    ));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let options = opts.tls.unwrap_or_default();
    assert_eq!(options.cipher_suites.len(), 2);
    // What rustls cannot negotiate is named, not silently dropped.
    assert_eq!(
        report.unsupported,
        vec![
            "tls.cipher_suites TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA".to_owned(),
            "tls.curve_preferences CurveP521".to_owned()
        ]
    );
    assert!(first_error(&tls("cipher_suites: [TLS_NOPE]")).contains("unrecognized cipher TLS_NOPE"));
    assert!(first_error(&tls("curve_preferences: [P999]"))
        .contains("unrecognized curve preference P999"));
    assert!(first_error(&tls("verify_cert_and_check_known_urls: true"))
        .contains("verify_cert_and_check_known_urls not supported in this context"));
    assert!(first_error(&tls("cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]")).contains(
        "insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: TLS_RSA_WITH_AES_128_CBC_SHA"
    ));
    let (_, report) = apply_text(&tls(
        "cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA], allow_insecure_cipher_suites: true",
    ));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn auth_callout_settings_and_their_errors() {
    let issuer = nkeys::KeyPair::new_account().public_key();
    let xkey = nkeys::XKey::new().public_key();
    let (opts, report) = apply_text(&format!(
        "accounts {{ AUTH {{ users [{{user: auth, password: pw}}] }}, APP {{}} }}\n\
         authorization {{ auth_callout {{ issuer: {issuer}, account: AUTH, auth_users: [auth], \
         xkey: {xkey}, allowed_accounts: [APP] }} }}\n"
    ));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let callout = opts.authorization.callout.unwrap();
    assert_eq!(
        (callout.account.as_str(), callout.xkey.as_deref()),
        ("AUTH", Some(xkey.as_str()))
    );
    assert_eq!(callout.allowed_accounts, ["APP"]);
    let (opts, _) = apply_text(&format!(
        "authorization {{ auth_callout {{ issuer: {issuer}, auth_users: [a] }} }}\n"
    ));
    assert_eq!(opts.authorization.callout.unwrap().account, "$G");
    for (text, error) in [
        (
            "authorization { auth_callout { auth_users: [a] } }\n".to_owned(),
            "Authorization callouts require an issuer to be specified",
        ),
        (
            format!("authorization {{ auth_callout {{ issuer: {issuer} }} }}\n"),
            "Authorization callouts require authorized users to be specified",
        ),
        (
            "authorization { auth_callout { issuer: UABC, auth_users: [a] } }\n".to_owned(),
            "Expected callout user to be a valid public account nkey, got \"UABC\"",
        ),
        (
            format!("authorization {{ auth_callout {{ issuer: {issuer}, auth_users: [a], xkey: {issuer} }} }}\n"),
            "Expected callout xkey to be a valid public xkey",
        ),
        (
            format!("authorization {{ auth_callout {{ issuer: {issuer}, auth_users: [a], color: red }} }}\n"),
            "Unknown field \"color\" parsing authorization callout",
        ),
        (
            format!("authorization {{ auth_callout {{ issuer: {issuer}, auth_users: [a], allowed_accounts: [NOPE] }} }}\n"),
            "auth_callout allowed account \"NOPE\" not found in configured accounts",
        ),
    ] {
        let found = first_error(&text);
        assert!(found.contains(error), "{text}: {found}");
    }
}

#[test]
fn account_msg_trace_settings_and_their_errors() {
    let (opts, report) = apply_text(
        "accounts { A { msg_trace: { dest: t.a, sampling: \"25%\" } }, B { trace_dest: t.b } }\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let traces: Vec<_> = opts.accounts.iter().map(|a| a.msg_trace.clone()).collect();
    assert_eq!(
        traces,
        [
            Some(MsgTraceConfig {
                dest: "t.a".into(),
                sampling: 25
            }),
            Some(MsgTraceConfig {
                dest: "t.b".into(),
                sampling: 100
            })
        ]
    );
    let (opts, report) = apply_text("accounts { A { msg_trace: { sampling: 5 } } }\n");
    assert_eq!(opts.accounts[0].msg_trace, None);
    assert!(report.warnings[0]
        .to_string()
        .contains("Trace destination sampling ignored since no destination was set"));
    for (text, error) in [
        (
            "accounts { A { msg_trace: { dest: \"t.*\" } } }\n",
            "Trace destination \"t.*\" is not valid",
        ),
        (
            "accounts { A { msg_trace: { dest: t, sampling: 101 } } }\n",
            "sampling value 101 is invalid, needs to be [1..100]",
        ),
        (
            "accounts { A { msg_trace: { dest: t, sampling: lots } } }\n",
            "Invalid trace destination sampling value \"lots\"",
        ),
        (
            "accounts { A { msg_trace: { dest: t, rate: 1 } } }\n",
            "Unknown field \"rate\" parsing account message trace map/struct \"msg_trace\"",
        ),
    ] {
        let found = first_error(text);
        assert!(found.contains(error), "{text}: {found}");
    }
}

#[test]
fn mappings_go_to_their_account_in_order() {
    let (opts, report) = apply_text(
        "mappings { a: b, \"c.*\": [ {dest: \"d.$1\", weight: \"40%\"}, {destination: e, weight: 60, cluster: x} ] }\n\
         accounts { A { maps { f: { dest: g, weight: 100 } } } }\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mapped = |name: &str| {
        let account = opts.accounts.iter().find(|a| a.name == name).unwrap();
        account.mappings.clone()
    };
    let to = |subject: &str, weight, cluster: &str| natsd_subject::MapDest {
        subject: subject.to_owned(),
        weight,
        cluster: cluster.to_owned(),
    };
    assert_eq!(
        mapped(crate::account_config::GLOBAL_ACCOUNT),
        [
            ("a".to_owned(), vec![to("b", 100, "")]),
            ("c.*".to_owned(), vec![to("d.$1", 40, ""), to("e", 60, "x")]),
        ]
    );
    assert_eq!(mapped("A"), [("f".to_owned(), vec![to("g", 100, "")])]);
}

/// nats-server's words and places: at the key of what is wrong.
#[test]
fn bad_mappings_are_refused_where_nats_server_refuses_them() {
    for (mapping, error) in [
        (
            "\"a.*\": \"b.{{wildcard(2)}}\"",
            "1:13: Error adding mapping for \"a.*\" to \"b.{{wildcard(2)}}\" : invalid mapping destination: wildcard index out of range in {{wildcard(2)}}: [2]",
        ),
        ("\"a b\": c", "1:1: Subject \"a b\" is not a valid subject"),
        (
            "\"a.*\": [{dest: \"x.$1\", weight: 40%}, {dest: \"y.$1\", weight: 70}]",
            "1:13: Error adding mapping for \"a.*\" : total weight needs to be <= 100",
        ),
        (
            "\"a.*\": {dest: \"x.$1\"}",
            "1:13: Missing weight for mapping destination \"x.$1\"",
        ),
        (
            "\"a.*\": {dest: \"x.$1\", weight: 101}",
            "1:34: Invalid weight 101 for mapping destination",
        ),
        (
            "\"a.*\": {dest: \"x.$1\", weight: 10, foo: 1}",
            "1:46: Unknown field \"foo\" for mapping destination",
        ),
        (
            "\"a.*\": 5",
            "1:13: Expected an entry for the mapping destination",
        ),
    ] {
        let text = format!("mappings {{ {mapping} }}\n");
        let found = first_error(&text);
        assert!(found.ends_with(error), "{text}: {found}");
    }
}

#[test]
fn allow_trace_belongs_to_service_exports_and_stream_imports() {
    let (opts, report) = apply_text(
        "accounts { A { exports: [ {service: s, allow_trace: true}, {stream: t} ] },\n\
         B { imports: [ {stream: {account: A, subject: t}, allow_trace: true}, {service: {account: A, subject: s}} ] } }\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let (a, b) = (&opts.accounts[0], &opts.accounts[1]);
    assert_eq!(
        (a.exports[0].allow_trace, a.exports[1].allow_trace),
        (true, false)
    );
    assert_eq!(
        (b.imports[0].allow_trace, b.imports[1].allow_trace),
        (true, false)
    );
    for (text, error) in [
        (
            "accounts { A { exports: [ {stream: \"a\", allow_trace: true} ] } }\n",
            "1:41: Detected allow_trace directive on non-service",
        ),
        (
            "accounts { A { exports: [ {allow_trace: true, stream: \"a\"} ] } }\n",
            "1:28: Detected allow_trace directive on non-service",
        ),
        (
            "accounts { A { exports: [ {service: \"a\"} ] }, B { imports: [ {service: {account: A, subject: a}, allow_trace: true} ] } }\n",
            "1:98: Detected allow_trace directive on a non-stream",
        ),
    ] {
        let found = first_error(text);
        assert!(found.ends_with(error), "{text}: {found}");
    }
}

#[test]
fn users_take_connection_types_and_proxy_required() {
    let (opts, report) = apply_text(
        "authorization { users: [ {user: a, password: p, allowed_connection_types: [standard, \"MQTT\"], proxy_required: true} ] }\n",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let user = &opts.authorization.users[0];
    assert_eq!(user.allowed_connection_types, ["STANDARD", "MQTT"]);
    assert!(user.proxy_required);
    let found = first_error(
        "authorization { users: [ {user: a, password: p, allowed_connection_types: [\"FOO\", standard, bar]} ] }\n",
    );
    assert!(
        found.ends_with("1:49: invalid connection types [\"FOO\" \"BAR\"]"),
        "{found}"
    );
}
