//! The core: `/plain`, keep-alive, pipelining, split input, timeouts, built-in endpoints.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::session::{Service, Step};

const GET_PLAIN: &[u8] = b"GET /plain HTTP/1.1\r\nHost: test\r\n\r\n";

#[test]
fn plain_is_exactly_hello_world() {
    let mut h = default_harness();
    let step = h.input(GET_PLAIN);
    assert_eq!(step, Step::consumed(GET_PLAIN.len()));
    let out = h.take_output();
    let r = one(&out);
    r.assert_common();
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Content-Length"), Some("13"));
    assert_eq!(r.header("Connection"), None);
    assert_eq!(r.body, b"Hello, World!");
    assert!(out.ends_with(b"\r\n\r\nHello, World!"));
}

#[test]
fn a_canned_answer_carries_the_date_of_its_second() {
    let mut h = default_harness();
    let date_of = |h: &mut Harness<HttpSession>| {
        h.input(GET_PLAIN);
        let r = one(&h.take_output());
        r.assert_common();
        assert_eq!(r.body, b"Hello, World!");
        r.header("Date").map(str::to_owned).unwrap()
    };
    let first = date_of(&mut h);
    // The same second: the same text.
    assert_eq!(date_of(&mut h), first);
    h.advance(Duration::from_millis(2_500));
    let later = date_of(&mut h);
    let seconds = |d: &str| httpdate::parse_http_date(d).unwrap();
    let gap = seconds(&later).duration_since(seconds(&first)).unwrap();
    assert!((2..=3).contains(&gap.as_secs()), "{first} then {later}");
    // And a HEAD in the new second gets the new date too, without the body.
    h.input(b"HEAD /plain HTTP/1.1\r\nHost: test\r\n\r\n");
    let out = h.take_output();
    assert!(
        out.ends_with(b"\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    let r = parse_responses(&out, &[true]).remove(0);
    assert_eq!(r.header("Date"), Some(later.as_str()));
    assert_eq!(r.header("Content-Length"), Some("13"));
}

#[test]
fn head_has_the_same_fields_and_no_body() {
    for target in ["/plain", "/echo?a=1", "/stats"] {
        let mut h = default_harness();
        let got = get(&mut h, target, &[]);
        h.input(&request("HEAD", target, &[]));
        let out = h.take_output();
        let head = &parse_responses(&out, &[true])[0];
        head.assert_common();
        assert_eq!(head.status_line, got.status_line);
        assert!(head.body.is_empty());
        assert!(out.ends_with(b"\r\n\r\n"));
        if target == "/stats" {
            continue; // its counters moved in between
        }
        assert_eq!(
            head.header("Content-Length"),
            got.header("Content-Length"),
            "{target}"
        );
    }
}

/// 100 requests, alternating routes so that order is visible, in one input.
fn pipeline() -> (Vec<u8>, Vec<bool>) {
    let mut input = Vec::new();
    let mut heads = Vec::new();
    for i in 0..100 {
        let (method, target) = match i % 3 {
            0 => ("GET", "/plain".to_owned()),
            1 => ("GET", format!("/echo?i={i}")),
            _ => ("HEAD", "/plain".to_owned()),
        };
        input.extend_from_slice(&request(method, &target, &[]));
        heads.push(method == "HEAD");
    }
    (input, heads)
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_call() {
    let (input, heads) = pipeline();
    let mut h = default_harness();
    assert_eq!(h.input(&input), Step::consumed(input.len()));
    let responses = parse_responses(&h.take_output(), &heads);
    assert_eq!(responses.len(), 100);
    for (i, r) in responses.iter().enumerate() {
        r.assert_common();
        assert_eq!(r.code, 200);
        match i % 3 {
            0 => assert_eq!(r.body, b"Hello, World!"),
            1 => assert_eq!(r.body, format!("{{\"i\":\"{i}\"}}").as_bytes()),
            _ => assert!(r.body.is_empty()),
        }
    }
}

#[test]
fn byte_by_byte_input_gives_identical_output() {
    let (input, _) = pipeline();
    let mut whole = default_harness();
    whole.input(&input);
    let mut bytewise = default_harness();
    assert_eq!(bytewise.input_bytewise(&input), Flow::Continue);
    assert!(bytewise.pending_input().is_empty());
    assert_eq!(bytewise.take_output(), whole.take_output());
}

#[test]
fn pipelined_plain_requests_make_identical_answers() {
    let mut h = default_harness();
    let input = GET_PLAIN.repeat(16);
    h.input(&input);
    let out = h.take_output();
    let one_answer = out.len() / 16;
    assert_eq!(out, out[..one_answer].repeat(16));
}

#[test]
fn keep_alive_serves_many_requests() {
    let mut h = default_harness();
    for _ in 0..1000 {
        assert_eq!(h.input(GET_PLAIN), Step::consumed(GET_PLAIN.len()));
        assert_eq!(one(&h.take_output()).code, 200);
    }
}

#[test]
fn connection_semantics_follow_the_version() {
    let cases: &[(&[u8], Option<&str>, Flow)] = &[
        (
            b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n",
            None,
            Flow::Continue,
        ),
        (
            b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            Some("close"),
            Flow::Close,
        ),
        (b"GET /plain HTTP/1.0\r\n\r\n", Some("close"), Flow::Close),
        (
            b"GET /plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            Some("keep-alive"),
            Flow::Continue,
        ),
        (
            b"GET /plain HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n",
            Some("close"),
            Flow::Close,
        ),
    ];
    for (input, connection, flow) in cases {
        let mut h = default_harness();
        let step = h.input(input);
        assert_eq!(step.flow, *flow, "{:?}", String::from_utf8_lossy(input));
        let r = one(&h.take_output());
        r.assert_common();
        assert_eq!(r.header("Connection"), *connection);
        assert_eq!(r.body, b"Hello, World!");
    }
}

#[test]
fn nothing_after_a_closing_answer_is_answered() {
    let mut h = default_harness();
    let mut input = b"GET /plain HTTP/1.0\r\n\r\n".to_vec();
    input.extend_from_slice(GET_PLAIN);
    let step = h.input(&input);
    assert_eq!(step, Step::close(input.len()));
    assert_eq!(parse_responses(&h.take_output(), &[]).len(), 1);
    // Late bytes are swallowed, not answered.
    assert_eq!(h.input(GET_PLAIN).flow, Flow::Close);
    assert!(h.take_output().is_empty());
}

#[test]
fn leading_blank_lines_are_skipped() {
    let mut h = default_harness();
    let mut input = b"\r\n\r\n".to_vec();
    input.extend_from_slice(GET_PLAIN);
    assert_eq!(exchange(&mut h, &input).code, 200);
}

#[test]
fn absolute_form_targets_are_served() {
    let mut h = default_harness();
    let r = exchange(
        &mut h,
        b"GET http://test/plain HTTP/1.1\r\nHost: test\r\n\r\n",
    );
    assert_eq!(r.body, b"Hello, World!");
}

#[test]
fn slow_heads_get_408_and_idle_connections_close_quietly() {
    let mut h = default_harness();
    // Idle: no deadline, and a timeout closes without a word.
    assert_eq!(h.deadline(), None);
    assert_eq!(h.timeout(), Flow::Close);
    assert!(h.take_output().is_empty());

    let mut h = default_harness();
    assert_eq!(h.input(b"GET /plain HTTP/1.1\r\nHo"), Step::consumed(0));
    assert_eq!(h.deadline(), Some(h.now() + Duration::from_secs(10)));
    h.advance(Duration::from_secs(5));
    h.input(b"st: t\r\n");
    // The deadline counts from the first byte, not the last.
    assert_eq!(h.deadline(), Some(h.now() + Duration::from_secs(5)));
    h.advance(Duration::from_secs(5));
    assert_eq!(h.timeout(), Flow::Close);
    let r = one(&h.take_output());
    r.assert_common();
    assert_eq!(r.status_line, "HTTP/1.1 408 Request Timeout");
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn a_stray_crlf_after_a_request_is_no_request() {
    let mut h = default_harness();
    let mut input = request("POST", "/echo", &["Content-Length: 2"]);
    input.extend_from_slice(b"hi\r\n");
    // Also cut between CR and LF.
    let cut = input.len() - 1;
    h.input(&input[..cut]);
    h.input(&input[cut..]);
    assert_eq!(one(&h.take_output()).code, 200);
    assert!(h.pending_input().is_empty());
    assert_eq!(h.deadline(), None, "no header timer for an empty line");
    assert!(!h.receiving(), "between requests nothing is owed");
    assert_eq!(h.timeout(), Flow::Close);
    assert!(h.take_output().is_empty(), "an idle close says nothing");

    // The request after the stray line is answered. A second empty line is no longer
    // skipped: it starts the header timer, so empty lines cannot keep a connection open.
    let mut h = default_harness();
    let mut input = b"\r\n".to_vec();
    input.extend_from_slice(&request("GET", "/plain", &[]));
    assert_eq!(exchange(&mut h, &input).code, 200);
    h.input(b"\r\n\r\n");
    assert_eq!(h.deadline(), Some(h.now() + Duration::from_secs(10)));
    assert_eq!(h.timeout(), Flow::Close);
    assert_eq!(one(&h.take_output()).code, 408);
}

#[test]
fn a_complete_head_clears_the_deadline() {
    let mut h = default_harness();
    h.input(b"GET /plain HTTP/1.1\r\n");
    assert!(h.deadline().is_some());
    h.input(b"Host: t\r\n\r\n");
    assert_eq!(h.deadline(), None);
    assert_eq!(one(&h.take_output()).code, 200);
}

#[test]
fn eof_mid_head_closes_without_an_answer() {
    let mut h = default_harness();
    h.input(b"GET /pla");
    assert_eq!(h.eof(b""), Flow::Close);
    assert!(h.take_output().is_empty());
}

#[test]
fn unused_bodies_are_discarded_in_step() {
    let mut h = default_harness();
    let mut input = request("GET", "/plain", &["Content-Length: 5"]);
    input.extend_from_slice(b"xxxxx");
    input.extend_from_slice(&request("POST", "/plain", &["Transfer-Encoding: chunked"]));
    input.extend_from_slice(b"3\r\nabc\r\n0\r\n\r\n");
    input.extend_from_slice(GET_PLAIN);
    assert_eq!(h.input(&input), Step::consumed(input.len()));
    let codes: Vec<u16> = parse_responses(&h.take_output(), &[])
        .iter()
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, [200, 405, 200]);
}

#[test]
fn echo_query_is_json() {
    let mut h = default_harness();
    let r = get(&mut h, "/echo?a=1&b=hello+world&c=%C3%A9&a=2", &[]);
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"a": ["1", "2"], "b": "hello world", "c": "é"})
    );
}

#[test]
fn echo_post_returns_the_body_with_its_type() {
    let mut h = default_harness();
    let mut input = request(
        "POST",
        "/echo",
        &["Content-Length: 11", "Content-Type: text/x-demo"],
    );
    input.extend_from_slice(b"hello there");
    let r = exchange(&mut h, &input);
    assert_eq!(r.header("Content-Type"), Some("text/x-demo"));
    assert_eq!(r.body, b"hello there");

    // Split anywhere, and without a type.
    let mut input = request("POST", "/echo", &["Content-Length: 4"]);
    input.extend_from_slice(b"abcd");
    let mut whole = default_harness();
    whole.input(&input);
    let mut bytewise = default_harness();
    bytewise.input_bytewise(&input);
    let out = bytewise.take_output();
    assert_eq!(out, whole.take_output());
    let r = one(&out);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"abcd");
}

#[test]
fn chunked_request_bodies_are_decoded() {
    let mut h = default_harness();
    let mut input = request(
        "POST",
        "/echo",
        &["Transfer-Encoding: chunked", "Content-Type: text/plain"],
    );
    input.extend_from_slice(b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n");
    input.extend_from_slice(GET_PLAIN);
    assert_eq!(h.input_bytewise(&input), Flow::Continue);
    let responses = parse_responses(&h.take_output(), &[]);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].body, b"hello, world");
    assert_eq!(responses[0].header("Content-Length"), Some("12"));
    assert_eq!(responses[1].body, b"Hello, World!");
}

#[test]
fn expect_continue_is_answered_before_the_body() {
    let mut h = default_harness();
    let head = request(
        "POST",
        "/echo",
        &["Content-Length: 3", "Expect: 100-continue"],
    );
    assert_eq!(h.input(&head), Step::consumed(head.len()));
    assert!(
        h.output()
            .starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    );
    assert_eq!(h.input(b"abc").flow, Flow::Continue);
    let responses = parse_responses(&h.take_output(), &[]);
    assert_eq!(responses[0].status_line, "HTTP/1.1 100 Continue");
    assert!(responses[0].headers.is_empty());
    assert_eq!(
        (responses[1].code, responses[1].body.as_slice()),
        (200, &b"abc"[..])
    );
}

#[test]
fn expect_continue_refused_closes_without_100() {
    let mut h = default_harness();
    let head = request(
        "POST",
        "/plain",
        &["Content-Length: 3", "Expect: 100-continue"],
    );
    let r = expect_close(&mut h, &head);
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn stats_reports_counters_and_responses() {
    let mut h = default_harness();
    get(&mut h, "/plain", &[]);
    get(&mut h, "/nope-this-is-missing", &[]);
    let r = get(&mut h, "/stats", &[]);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    for (name, _) in h.stats().snapshot() {
        assert!(json.get(name).is_some_and(Value::is_u64), "{name}");
    }
    // /plain and 404 so far; /stats itself is counted once answered.
    assert_eq!(json["requests"]["2xx"], 1);
    assert_eq!(json["requests"]["4xx"], 1);
    assert_eq!(json["requests"]["5xx"], 0);
}

#[test]
fn options_lists_methods() {
    let cases: &[(&str, &str, bool, &str)] = &[
        ("*", "GET, HEAD, POST, OPTIONS", false, ""),
        ("/plain", "GET, HEAD, OPTIONS", false, ""),
        ("/echo", "GET, HEAD, POST, OPTIONS", false, ""),
        ("/files/x", "GET, HEAD, PUT, DELETE, OPTIONS", true, ""),
        ("/files/x", "GET, HEAD, OPTIONS", false, ""),
        (
            "*",
            "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE",
            true,
            "trace",
        ),
    ];
    for (target, allow, writable, trace) in cases {
        let mut h = harness(HttpConfig {
            writable: *writable,
            allow_trace: !trace.is_empty(),
            ..HttpConfig::default()
        });
        let r = exchange(&mut h, &request("OPTIONS", target, &[]));
        assert_eq!(r.status_line, "HTTP/1.1 204 No Content", "{target}");
        assert_eq!(r.header("Allow"), Some(*allow), "{target}");
        assert!(r.body.is_empty());
    }
}

#[test]
fn methods_outside_a_resource_get_405_and_unknown_ones_501() {
    let cases: &[(&str, &str, u16, Option<&str>)] = &[
        ("POST", "/plain", 405, Some("GET, HEAD, OPTIONS")),
        ("DELETE", "/hello.txt", 405, Some("GET, HEAD, OPTIONS")),
        ("PATCH", "/echo", 405, Some("GET, HEAD, POST, OPTIONS")),
        ("PUT", "/files/x", 405, Some("GET, HEAD, OPTIONS")),
        ("TRACE", "/plain", 405, Some("GET, HEAD, OPTIONS")),
        (
            "CONNECT",
            "example.com:443",
            405,
            Some("GET, HEAD, POST, OPTIONS"),
        ),
        ("BREW", "/pot", 501, None),
        ("get", "/plain", 501, None),
    ];
    for (method, target, code, allow) in cases {
        let mut h = default_harness();
        let extra: &[&str] = if matches!(*method, "PUT" | "POST") {
            &["Content-Length: 0"]
        } else {
            &[]
        };
        let r = exchange(&mut h, &request(method, target, extra));
        assert_eq!(r.code, *code, "{method} {target}");
        assert_eq!(r.header("Allow"), *allow, "{method} {target}");
        assert_eq!(
            r.header("Connection"),
            None,
            "{method} {target}: the connection survives"
        );
    }
    let mut h = default_harness();
    assert_eq!(
        exchange(&mut h, &request("BREW", "/pot", &[])).status_line,
        "HTTP/1.1 501 Not Implemented"
    );
}

#[test]
fn trace_echoes_the_head_without_credentials() {
    let mut h = harness(HttpConfig {
        allow_trace: true,
        ..HttpConfig::default()
    });
    let r = exchange(
        &mut h,
        &request(
            "TRACE",
            "/x?y",
            &["X-Probe: 1", "Authorization: Basic c2VjcmV0", "Cookie: s=1"],
        ),
    );
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Content-Type"), Some("message/http"));
    assert_eq!(
        r.text(),
        "TRACE /x?y HTTP/1.1\r\nHost: localhost\r\nX-Probe: 1\r\n\r\n"
    );
}

#[test]
fn connection_limit_answer_is_a_complete_503() {
    let http = Http::new(HttpConfig::default());
    let r = one(http.reject_message());
    assert_eq!(r.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(
        r.header("Content-Length").unwrap(),
        r.body.len().to_string()
    );
    assert_eq!(http.name(), "http");
    assert_eq!(http.input_limit(), 64 * 1024);
    let big = Http::new(HttpConfig {
        max_header_bytes: 100_000,
        ..HttpConfig::default()
    });
    assert!(big.input_limit() > 100_000);
}

#[test]
fn responses_are_counted_by_class() {
    let http = Http::new(HttpConfig::default());
    let mut h = Harness::new(http.session());
    h.input(GET_PLAIN);
    h.input(&request("GET", "/missing", &[]));
    assert_eq!(http.responses(), [0, 1, 0, 1, 0]);
}

#[test]
fn access_log_does_not_disturb_answers() {
    let mut h = harness(HttpConfig {
        access_log: true,
        ..HttpConfig::default()
    });
    assert_eq!(get(&mut h, "/plain", &[]).code, 200);
    let mut input = request("POST", "/echo", &["Content-Length: 2"]);
    input.extend_from_slice(b"hi");
    assert_eq!(exchange(&mut h, &input).body, b"hi");
    assert_eq!(expect_close(&mut h, b"BAD\r\n\r\n").code, 400);
}
