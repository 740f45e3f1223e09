use bytes::BytesMut;
use natsd_proto::{ClientOp, ParseError, Parser, ParserLimits};

/// Parses `input` in one read; returns the ops and the error that stopped parsing, if any.
pub fn parse_all(input: &[u8], headers: bool) -> (Vec<ClientOp>, Option<ParseError>) {
    let mut parser = Parser::new(ParserLimits::default());
    parser.set_headers(headers);
    let mut buf = BytesMut::from(input);
    let mut ops = Vec::new();
    loop {
        match parser.next_op(&mut buf) {
            Ok(Some(op)) => ops.push(op),
            Ok(None) => return (ops, None),
            Err(e) => return (ops, Some(e)),
        }
    }
}

fn one(input: &[u8]) -> ClientOp {
    let (ops, err) = parse_all(input, true);
    assert_eq!(err, None, "input {:?}", String::from_utf8_lossy(input));
    assert_eq!(ops.len(), 1, "input {:?}", String::from_utf8_lossy(input));
    ops.into_iter().next().unwrap()
}

fn error(input: &[u8]) -> ParseError {
    parse_all(input, true).1.expect("an error")
}

#[test]
fn pub_with_and_without_reply() {
    let ClientOp::Pub(p) = one(b"PUB foo 5\r\nhello\r\n") else {
        panic!()
    };
    assert_eq!(
        (p.subject(), p.reply(), p.payload().as_slice()),
        (&b"foo"[..], None, &b"hello"[..])
    );
    let ClientOp::Pub(p) = one(b"pub\tfoo \t bar   05\r\nhello\r\n") else {
        panic!()
    };
    assert_eq!(p.reply(), Some(&b"bar"[..]));
    assert_eq!(p.size_text(), b"05");
    let ClientOp::Pub(p) = one(b"PUB foo 0\r\n\r\n") else {
        panic!()
    };
    assert!(p.payload().is_empty());
}

#[test]
fn hpub_splits_headers_and_body() {
    let ClientOp::Pub(p) = one(b"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n") else {
        panic!()
    };
    assert_eq!(p.header_len, Some(12));
    assert_eq!(p.headers(), b"NATS/1.0\r\n\r\n");
    assert_eq!(p.body(), b"hi");
    assert!(p.has_headers());
}

#[test]
fn hpub_requires_headers_support() {
    let (_, err) = parse_all(b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", false);
    assert!(matches!(err, Some(ParseError::Violation(_))));
}

#[test]
fn sub_unsub_forms() {
    assert_eq!(
        one(b"SUB foo 1\r\n"),
        ClientOp::Sub {
            subject: "foo".into(),
            queue: None,
            sid: "1".into()
        }
    );
    assert_eq!(
        one(b"sub foo.* workers 22\r\n"),
        ClientOp::Sub {
            subject: "foo.*".into(),
            queue: Some("workers".into()),
            sid: "22".into()
        }
    );
    assert_eq!(
        one(b"UNSUB 1\r\n"),
        ClientOp::Unsub {
            sid: "1".into(),
            max: None
        }
    );
    assert_eq!(
        one(b"UNSUB 1 10\r\n"),
        ClientOp::Unsub {
            sid: "1".into(),
            max: Some(Some(10))
        }
    );
    assert_eq!(
        one(b"UNSUB 1 x\r\n"),
        ClientOp::Unsub {
            sid: "1".into(),
            max: Some(None)
        }
    );
}

#[test]
fn verbs_without_arguments_ignore_trailing_bytes() {
    assert_eq!(one(b"PING\r\n"), ClientOp::Ping);
    assert_eq!(one(b"ping\n"), ClientOp::Ping);
    assert_eq!(one(b"PINGxyz\r\n"), ClientOp::Ping);
    assert_eq!(one(b"PONG\r\n"), ClientOp::Pong);
    assert_eq!(one(b"+ok\r\n"), ClientOp::Ok);
}

#[test]
fn connect_info_and_err_carry_their_text() {
    assert_eq!(
        one(b"CONNECT {\"verbose\":true}\r\n"),
        ClientOp::Connect("{\"verbose\":true}".into())
    );
    assert_eq!(one(b"connect{}\r\n"), ClientOp::Connect("{}".into()));
    assert_eq!(one(b"INFO {}\r\n"), ClientOp::Info("{}".into()));
    assert_eq!(one(b"-ERR 'boom'\r\n"), ClientOp::Err("'boom'".into()));
}

#[test]
fn bad_verbs_fail_at_the_first_bad_byte() {
    for input in [
        &b"FOO\r\n"[..],
        b"PUX",
        b"PUBX foo 1\r\n",
        b"\r\n",
        b" PING\r\n",
        b"MSG foo 1 1\r\n",
        b"RS+ foo\r\n",
        b"A+ x\r\n",
        b"LS+ x\r\n",
        b"SUBX",
    ] {
        assert_eq!(
            error(input),
            ParseError::UnknownOperation,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn bad_arguments_are_violations() {
    for input in [
        &b"PUB foo\r\n"[..],
        b"PUB foo bar baz 1\r\n",
        b"PUB foo -1\r\n",
        b"PUB foo 1x\r\n",
        b"PUB foo 1234567890\r\n",
        b"SUB foo\r\n",
        b"SUB a b c d\r\n",
        b"UNSUB\t \r\n",
        b"UNSUB 1 2 3\r\n",
        b"HPUB foo 5 3\r\n",
    ] {
        assert!(
            matches!(error(input), ParseError::Violation(_)),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn payload_must_end_with_crlf() {
    assert_eq!(error(b"PUB foo 1\r\nabc"), ParseError::UnknownOperation);
    assert_eq!(error(b"PUB foo 1\r\na\rx"), ParseError::UnknownOperation);
    // Shorter than declared: the next op's bytes become payload, then the trailer is wrong.
    assert_eq!(
        error(b"PUB foo 10\r\nhi\r\nPING\r\nPING\r\n"),
        ParseError::UnknownOperation
    );
}

#[test]
fn limits_are_checked_before_buffering() {
    assert_eq!(
        error(b"PUB foo 1048577\r\n"),
        ParseError::MaxPayload {
            size: 1048577,
            max: 1048576
        }
    );
    let mut parser = Parser::new(ParserLimits {
        max_control_line: 16,
        max_payload: None,
    });
    let mut buf = BytesMut::from(&b"SUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[..]);
    assert_eq!(parser.next_op(&mut buf), Err(ParseError::MaxControlLine));
    let mut buf = BytesMut::from(&b"SUB aaaaaaaaaaaaaaaaaaaaaa 1\r\n"[..]);
    let mut parser = Parser::new(ParserLimits {
        max_control_line: 16,
        max_payload: None,
    });
    assert_eq!(parser.next_op(&mut buf), Err(ParseError::MaxControlLine));
    // A control line exactly at the limit passes.
    let mut buf = BytesMut::from(&b"SUB aaaaaaaaaaaaaa 1\r\n"[..]);
    let mut parser = Parser::new(ParserLimits {
        max_control_line: 16,
        max_payload: None,
    });
    assert!(matches!(
        parser.next_op(&mut buf),
        Ok(Some(ClientOp::Sub { .. }))
    ));
}

#[test]
fn endless_ping_line_does_not_grow_the_buffer() {
    let mut parser = Parser::new(ParserLimits::default());
    let mut buf = BytesMut::from(&b"PING"[..]);
    assert_eq!(parser.next_op(&mut buf), Ok(None));
    for _ in 0..100 {
        buf.extend_from_slice(&[b'x'; 1000]);
        assert_eq!(parser.next_op(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }
    buf.extend_from_slice(b"\r\n");
    assert_eq!(parser.next_op(&mut buf), Ok(Some(ClientOp::Ping)));
}

#[test]
fn bytes_wanted_reports_payload_room() {
    let mut parser = Parser::new(ParserLimits::default());
    let mut buf = BytesMut::from(&b"PUB foo 100\r\nab"[..]);
    assert_eq!(parser.next_op(&mut buf), Ok(None));
    assert_eq!(parser.bytes_wanted(buf.len()), 100);
}

#[test]
fn ops_display_as_control_lines() {
    let (ops, _) = parse_all(
        b"HPUB a r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nSUB a q 1\r\nUNSUB 1 5\r\nping\r\n",
        true,
    );
    let lines: Vec<String> = ops.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["HPUB a r 12 14", "SUB a q 1", "UNSUB 1 5", "PING"]);
}
